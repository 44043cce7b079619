"""Dashboard scale: an experiment with 100,000 candidates.

Prints the time to compute and store the Pareto front (O(n log n)) against a
naive O(n^2) front on the same points (measured on a subset and scaled by n^2),
and the time to serve the experiment page, the plot data and a sorted page of
the candidate table.

The plot data two ways, in the same run: today's (``selectors.scatter_thinned``:
every front point and one point per cell, binary typed arrays for WebGL, built
once per state of the experiment and cached) and the old path (every point as
JSON: ``selectors.scatter_data`` + ``charts.pareto_figure``, as the view served
it before; the page's "every point" box). Server time: the cold build and the
p50/p95 of repeated requests. Draw time in Chromium (Playwright,
/usr/bin/chromium): the fetch of the plot data, its parse and draw, and the
time from the page's start to the plot drawn, on a threaded WSGI server in
this process; the new path's data comes from the cache (as after a run, when
the front refresh built it), the old path's is built for each load.

Uses a throw-away SQLite database under a temp folder unless DATABASE_URL is
set. Last line: one JSON object of the figures.

    python bench/dashboard.py [--quick] [--n 100000] [--no-browser]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
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


def setup_django(tmp: str | None = None) -> None:
    """Django on a throw-away database (a temp SQLite file, or a test database
    beside DATABASE_URL's), migrated, with the built-in hardware profiles."""
    tmp = tmp or tempfile.mkdtemp(prefix="frontier-bench-")
    os.environ.setdefault("FRONTIER_VAR_DIR", tmp)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    if "DATABASE_URL" in os.environ:  # a separate database so nothing real is touched
        from django.db import connection

        settings.DATABASES["default"]["NAME"] = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    call_command("migrate", verbosity=0)
    from webapp import services

    services.hardware_profiles_sync_builtin()


def build_experiment(n: int, *, username: str = "bench", password: str = "bench-pass-123"):
    """A finished model-zoo experiment holding ``n`` synthetic candidates
    (log-normal latencies, accuracy rising with latency plus noise; generated,
    not measured: a load for the pages, not a result) with its front stored
    (which also builds the plot of the default axes ahead, as after a run).
    Returns (experiment, user, insert seconds, store-front seconds, lat, acc)."""
    import numpy as np
    from django.contrib.auth import get_user_model

    from webapp import services
    from webapp.models import Candidate, Experiment

    user = get_user_model().objects.create_user(username, password=password)
    exp = Experiment.objects.create(owner=user, technique="model-zoo", hardware_id=1, status="succeeded",
                                    name=f"{n:,} generated candidates (bench)",
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
    services.experiment_refresh_front(experiment_id=exp.pk)
    store_front_s = time.perf_counter() - t0
    exp.refresh_from_db()
    return exp, user, insert_s, store_front_s, lat, acc


def old_plot_response(exp, x: str = "latency_ms", y: str = "accuracy") -> bytes:
    """The plot data as the view served it before the thinned path: every point,
    as JSON lists (the same functions the view still calls for ``?all=1``)."""
    from django.core.serializers.json import DjangoJSONEncoder
    from django.http import JsonResponse

    from webapp import charts, plots, selectors

    data = selectors.scatter_data(exp, x, y)
    fig = charts.pareto_figure(data, webgl=len(data.xs) > plots.WEBGL_THRESHOLD)
    return JsonResponse({"figure": fig, "status": exp.status, "count": len(data.xs)}, encoder=DjangoJSONEncoder).content


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class ThreadedServer:
    """The Django app (static files included) on a free loopback port, in a thread of this process."""

    def __init__(self):
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self.httpd = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
        self.httpd.set_app(StaticFilesHandler(WSGIHandler()))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def session_cookie(user) -> str:
    from django.test import Client

    c = Client()
    c.force_login(user)
    return c.cookies["sessionid"].value


def browser_draw_times(url: str, cookie: str, pk: int, *, repeats: int, before=None) -> dict[str, float]:
    """Open the experiment page in Chromium (a fresh context each time: no HTTP
    cache) and read the page's own timings of the plot: fetch, then parse and
    draw (Plotly.react until the next animation frame), and since the page's start.
    ``before(label)`` runs before each load ("new" / "old")."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--no-first-run",
                                                                     "--disable-background-networking"])
        try:
            for label, query in (("new", ""), ("old", "?all=1")):
                for _ in range(repeats):
                    if before is not None:
                        before(label)
                    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                    ctx.add_cookies([{"name": "sessionid", "value": cookie, "url": url}])
                    page = ctx.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.goto(f"{url}/experiments/{pk}/{query}")
                    page.wait_for_selector("#pareto[data-draw-ms]", state="attached", timeout=120_000)
                    t = page.evaluate("(() => { const p = document.getElementById('pareto'); return {fetch: +p.dataset.fetchMs, "
                                      "draw: +p.dataset.drawMs, since_start: +p.dataset.drawnAt, shown: +p.dataset.shown, "
                                      "gl: p.querySelectorAll('canvas').length}; })()")
                    if errors:
                        raise RuntimeError(f"page errors: {errors}")
                    for k, v in t.items():
                        out.setdefault(f"{label}_{k}", []).append(v)
                    ctx.close()
        finally:
            browser.close()
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 candidates, fewer repeats")
    ap.add_argument("--n", type=int, default=None, help="number of candidates (1,000 to 1,000,000)")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium draw times")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)
    if not 1_000 <= n <= 1_000_000:
        ap.error("--n must be from 1,000 to 1,000,000")
    setup_django()
    from django.conf import settings
    from django.core.cache import caches
    from django.test import Client

    from engine.search.pareto import front_2d

    exp, user, insert_s, store_front_s, lat, acc = build_experiment(n)
    pts = list(zip(lat.tolist(), acc.tolist()))
    t0 = time.perf_counter()
    fast = front_2d(pts, ("min", "max"))
    front_s = time.perf_counter() - t0
    sub = min(n, 3000)
    t0 = time.perf_counter()
    slow_sub = naive_front(pts[:sub])
    naive_s = (time.perf_counter() - t0) * (n / sub) ** 2
    assert sorted(front_2d(pts[:sub], ("min", "max"))) == sorted(slow_sub), "fronts disagree"
    front_size = exp.candidates.filter(on_front=True).count()

    c = Client()
    c.force_login(user)
    timings = {}
    for name, url in (("detail_page_s", f"/experiments/{exp.pk}/"),
                      ("table_sorted_page_s", f"/experiments/{exp.pk}/candidates/?ordering=-accuracy&page=3"),
                      ("api_front_s", f"/api/experiments/{exp.pk}/candidates/?front=1")):
        c.get(url)  # the first request of a process loads templates and code
        t0 = time.perf_counter()
        r = c.get(url)
        timings[name] = round(time.perf_counter() - t0, 4)
        assert r.status_code == 200, (url, r.status_code)

    # the plot data, old path: every point as JSON, built on every request
    repeats_old = 3 if args.quick else 5
    old_ms = []
    for _ in range(repeats_old):
        t0 = time.perf_counter()
        old_body = old_plot_response(exp)
        old_ms.append((time.perf_counter() - t0) * 1000)
    # new path through the view: the cold build (cache emptied), then repeated requests
    plot_url = f"/experiments/{exp.pk}/plot.json"
    cache = caches["plots"]
    cold_ms = []
    for _ in range(3):
        cache.clear()
        t0 = time.perf_counter()
        r = c.get(plot_url)
        cold_ms.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200
    body = json.loads(r.content)
    warm_ms = []
    for _ in range(20 if args.quick else 50):
        t0 = time.perf_counter()
        r = c.get(plot_url)
        warm_ms.append((time.perf_counter() - t0) * 1000)
    front_trace = [t for t in body["figure"]["data"] if t["name"].startswith("Pareto front")]
    assert front_trace and front_trace[0]["name"] == f"Pareto front ({front_size})", "a front point was thinned away"
    figures = {"candidates": n, "front_size": front_size, "insert_s": round(insert_s, 2),
               "store_front_s": round(store_front_s, 3), "front_compute_s": round(front_s, 4),
               "naive_front_estimated_s": round(naive_s, 1), "front_speedup_vs_naive": round(naive_s / front_s, 1),
               **timings,
               "plot_points_drawn": body["shown"], "plot_kb": round(len(r.content) / 1024, 1),
               "plot_old_kb": round(len(old_body) / 1024, 1),
               "plot_server_cold_ms": round(statistics.median(cold_ms), 1),
               "plot_server_p50_ms": round(percentile(warm_ms, 50), 1),
               "plot_server_p95_ms": round(percentile(warm_ms, 95), 1),
               "plot_server_old_p50_ms": round(percentile(old_ms, 50), 1),
               "plot_server_old_p95_ms": round(percentile(old_ms, 95), 1)}
    figures["plot_server_speedup_p95"] = round(figures["plot_server_old_p95_ms"] / figures["plot_server_p95_ms"], 1)
    figures["plot_server_speedup_cold"] = round(figures["plot_server_old_p50_ms"] / figures["plot_server_cold_ms"], 1)
    if not args.no_browser:
        with ThreadedServer() as srv:
            def before(label: str) -> None:  # the old path built its data on every request: no cache for it
                if label == "old":
                    cache.clear()

            t = browser_draw_times(srv.url, session_cookie(user), exp.pk, repeats=2 if args.quick else 3,
                                   before=before)
        figures.update({"draw_ms": round(t["new_draw"], 1), "draw_old_ms": round(t["old_draw"], 1),
                        "fetch_ms": round(t["new_fetch"], 1), "fetch_old_ms": round(t["old_fetch"], 1),
                        "page_to_plot_ms": round(t["new_since_start"], 1),
                        "page_to_plot_old_ms": round(t["old_since_start"], 1),
                        "webgl_now": bool(t["new_gl"]), "webgl_old": bool(t["old_gl"]), "old_points_drawn": int(t["old_shown"])})
        figures["draw_speedup"] = round(t["old_draw"] / t["new_draw"], 1)
        figures["page_to_plot_speedup"] = round(t["old_since_start"] / t["new_since_start"], 1)
    figures["database"] = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    assert len(fast) >= 1
    for k, v in figures.items():
        print(f"{k:>28}: {v}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
