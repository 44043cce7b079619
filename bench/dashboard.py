"""Dashboard scale: an experiment with 100,000 candidates.

Prints the time to compute and store the Pareto front (O(n log n)) against a
naive O(n^2) front on the same points (measured on a subset and scaled by n^2),
and the time to serve the experiment page, the plot data and a sorted page of
the candidate table. Uses a throw-away SQLite database under a temp folder
unless DATABASE_URL is set. Last line: one JSON object of the figures.

    python bench/dashboard.py [--quick] [--n 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def naive_front(points: list[tuple[float, float]]) -> list[int]:
    out = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 >= y) and (x2 < x or y2 > y) for x2, y2 in points):
            out.append(i)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 candidates")
    ap.add_argument("--n", type=int, default=None, help="number of candidates (1,000 to 1,000,000)")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)
    if not 1_000 <= n <= 1_000_000:
        ap.error("--n must be from 1,000 to 1,000,000")
    tmp = tempfile.mkdtemp(prefix="frontier-bench-")
    os.environ.setdefault("FRONTIER_VAR_DIR", tmp)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    import numpy as np

    setup_test_environment()
    if "DATABASE_URL" in os.environ:  # a separate database so nothing real is touched
        from django.test.utils import get_runner  # noqa: F401
        from django.db import connection

        settings.DATABASES["default"]["NAME"] = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from engine.search.pareto import front_2d
    from webapp import services
    from webapp.models import Candidate, Experiment

    services.hardware_profiles_sync_builtin()
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    exp = Experiment.objects.create(owner=user, technique="model-zoo", hardware_id=1, status="succeeded",
                                    config={}, metric_keys={"latency_ms": "number", "accuracy": "number",
                                                            "latency_source": "text"})
    rng = np.random.default_rng(0)
    lat = rng.lognormal(2.0, 0.6, n)
    acc = np.clip(0.5 + 0.1 * np.log(lat) + rng.normal(0, 0.05, n), 0, 1)
    t0 = time.perf_counter()
    Candidate.objects.bulk_create(
        [Candidate(experiment=exp, index=i, architecture={"kernels": [3, 5, 7], "expands": [3, 4, 6], "resolution": 32},
                   metrics={"latency_ms": float(lat[i]), "accuracy": float(acc[i]), "latency_source": "predictor"})
         for i in range(n)], batch_size=2000)
    insert_s = time.perf_counter() - t0
    Experiment.objects.filter(pk=exp.pk).update(candidate_count=n)

    t0 = time.perf_counter()
    front = services.experiment_refresh_front(experiment_id=exp.pk)
    store_front_s = time.perf_counter() - t0
    pts = list(zip(lat.tolist(), acc.tolist()))
    t0 = time.perf_counter()
    fast = front_2d(pts, ("min", "max"))
    front_s = time.perf_counter() - t0
    sub = min(n, 3000)
    t0 = time.perf_counter()
    slow_sub = naive_front(pts[:sub])
    naive_s = (time.perf_counter() - t0) * (n / sub) ** 2
    assert sorted(front_2d(pts[:sub], ("min", "max"))) == sorted(slow_sub), "fronts disagree"

    c = Client()
    c.force_login(user)
    timings = {}
    for name, url in (("detail_page_s", f"/experiments/{exp.pk}/"),
                      ("plot_json_s", f"/experiments/{exp.pk}/plot.json"),
                      ("table_sorted_page_s", f"/experiments/{exp.pk}/candidates/?ordering=-accuracy&page=3"),
                      ("api_front_s", f"/api/experiments/{exp.pk}/candidates/?front=1")):
        t0 = time.perf_counter()
        r = c.get(url)
        timings[name] = round(time.perf_counter() - t0, 4)
        assert r.status_code == 200, (url, r.status_code)
        if name == "plot_json_s":
            timings["plot_json_mb"] = round(len(r.content) / 2**20, 2)
    figures = {"candidates": n, "front_size": len(front), "insert_s": round(insert_s, 2),
               "store_front_s": round(store_front_s, 3), "front_compute_s": round(front_s, 4),
               "naive_front_estimated_s": round(naive_s, 1), "front_speedup_vs_naive": round(naive_s / front_s, 1),
               **timings, "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]}
    assert len(fast) == len(front)
    for k, v in figures.items():
        print(f"{k:>26}: {v}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
