"""The experiment page's scatter at scale: thinned plot data that keeps every
front point (selectors.scatter_thinned), binary typed arrays for WebGL
(charts.thinned_figure) and the cached, ETag'd plot view. SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from engine.search.pareto import front_2d, front_mask_2d
from tests.webapp.test_services import fast_hashing, make_exp  # noqa: F401  (fixtures)
from webapp import charts, plots, selectors
from webapp.models import Candidate

pytestmark = pytest.mark.django_db


def _cloud(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    lat = rng.lognormal(2.0, 0.6, n)
    acc = np.clip(0.5 + 0.1 * np.log(lat) + rng.normal(0, 0.05, n), 0, 1)
    src = ["predictor", "measured"]
    return [{"latency_ms": float(lat[i]), "accuracy": float(acc[i]), "params": int(1000 + i),
             "latency_source": src[i % 7 == 0]} for i in range(n)]


def decode(spec) -> np.ndarray:
    """plotly.js's typed-array spec back to numpy."""
    if isinstance(spec, list):
        return np.array(spec)
    dt = {"f8": "<f8", "f4": "<f4", "i4": "<i4", "i2": "<i2", "i1": "i1", "u1": "u1", "u2": "<u2", "u4": "<u4"}
    arr = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=dt[spec["dtype"]])
    if "shape" in spec:
        arr = arr.reshape([int(s) for s in spec["shape"].split(",")])
    return arr


def test_front_mask_2d_is_front_2d_vectorised():
    rng = np.random.default_rng(3)
    for dirs in (("min", "max"), ("min", "min"), ("max", "max")):
        pts = rng.integers(0, 12, size=(400, 2)).astype(float)  # many ties and duplicates
        mask = front_mask_2d(pts[:, 0], pts[:, 1], dirs)
        assert sorted(np.flatnonzero(mask).tolist()) == sorted(front_2d([tuple(p) for p in pts], dirs))
    assert front_mask_2d(np.zeros(0), np.zeros(0)).shape == (0,)
    with pytest.raises(ValueError, match="finite"):
        front_mask_2d(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


@pytest.fixture
def big(profiles, user):
    return make_exp(user, profiles["local-cpu"], _cloud(3000))


def test_thinned_keeps_every_front_point_and_counts_every_candidate(big):
    d = selectors.scatter_thinned(big, "latency_ms", "accuracy", grid=(40, 20))
    front = set(Candidate.objects.filter(experiment=big, on_front=True).values_list("index", flat=True))
    assert front and front <= set(d.ids.tolist())
    assert set(d.ids[d.on_front].tolist()) == front
    assert d.total == 3000 and d.thinned and len(d.xs) < 1500
    # every candidate is counted once: by the point of its cell, or by itself on a front
    rows = {c.index: c.metrics for c in Candidate.objects.filter(experiment=big)}
    assert int(d.counts.sum()) == 3000 and set(d.counts[d.on_front].tolist()) == {1}
    for i, xv, yv in zip(d.ids.tolist(), d.xs.tolist(), d.ys.tolist()):
        assert rows[i]["latency_ms"] == xv and rows[i]["accuracy"] == yv
    # one trace per source pair; the drawn points keep their own candidate's source
    assert sorted(t[1] for t in d.traces) == ["measured", "predictor"]
    for i, t in zip(d.ids.tolist(), d.trace.tolist()):
        assert d.traces[t][1] == rows[i]["latency_source"]
    # the front's architectures are read, the rest are not
    assert set(d.labels) == front and all("net" in v for v in d.labels.values())


def test_thinned_keeps_the_front_of_the_plotted_axes_too(big):
    """On axes other than the stored front's, the (x, y) front is still drawn whole."""
    d = selectors.scatter_thinned(big, "params", "accuracy", grid=(10, 10))
    vals = np.array([(c.metrics["params"], c.metrics["accuracy"]) for c in big.candidates.order_by("index")])
    want = np.flatnonzero(front_mask_2d(vals[:, 0], vals[:, 1], ("min", "max")))
    assert set(want.tolist()) <= set(d.ids.tolist())


def test_thinned_skips_values_that_are_not_numbers(profiles, user):
    e = make_exp(user, profiles["local-cpu"], [
        {"latency_ms": 1.0, "accuracy": 0.5, "latency_source": "lut"},
        {"latency_ms": "fast", "accuracy": 0.9},
        {"latency_ms": 2.0, "accuracy": None},
        {"accuracy": 0.3},
        {"latency_ms": True, "accuracy": 0.7},
        {"latency_ms": 3, "accuracy": 0.8, "latency_source": "measured"},
    ])
    d = selectors.scatter_thinned(e, "latency_ms", "accuracy")
    assert d.ids.tolist() == [0, 5] and d.xs.tolist() == [1.0, 3.0] and d.total == 2 and not d.thinned
    assert sorted(d.traces) == [("", "lut", ""), ("", "measured", "")]


def test_thinned_figure_has_binary_arrays_svg_or_webgl(big, monkeypatch):
    d = selectors.scatter_thinned(big, "latency_ms", "accuracy", grid=(40, 20))
    assert {t["type"] for t in charts.thinned_figure(d)["data"]} == {"scatter"}  # a few hundred points: SVG
    monkeypatch.setattr(charts, "SVG_LIMIT", 10)
    fig = charts.thinned_figure(d)
    bulk = [t for t in fig["data"] if t["name"].startswith("candidates")]
    assert len(bulk) == 2 and all(t["type"] == "scattergl" for t in fig["data"])
    xs = np.concatenate([decode(t["x"]) for t in bulk])
    ids = np.concatenate([decode(t["customdata"])[:, 0] for t in bulk])
    counts = np.concatenate([decode(t["customdata"])[:, 1] for t in bulk])
    # the front's points are drawn once, by the front's trace (its hover names the architecture)
    assert len(xs) == len(d.xs) - int(d.on_front.sum())
    assert sorted(ids.tolist()) == sorted(d.ids[~d.on_front].tolist())
    assert int(counts.sum()) == int(d.counts.sum()) - int(d.on_front.sum())
    assert sum(int(re.search(r"\(([\d,]+)", t["name"]).group(1).replace(",", "")) for t in bulk) == 3000
    assert "measured" in " ".join(t["name"] for t in bulk) and "stands for" in bulk[0]["hovertemplate"]
    front = fig["data"][-1]
    assert front["name"] == f"Pareto front ({int(d.on_front.sum())})"
    assert all(c[1] for c in front["customdata"])  # the architecture in the hover
    assert front["x"] == sorted(front["x"])
    assert "(estimate)" in fig["layout"]["xaxis"]["title"]["text"]


def test_plot_view_thins_caches_and_answers_304(big, client, user, monkeypatch):
    monkeypatch.setattr(plots, "THIN_THRESHOLD", 1000)
    client.force_login(user)
    url = f"/experiments/{big.pk}/plot.json"
    r = client.get(url)
    assert r.status_code == 200 and r["ETag"]
    body = json.loads(r.content)
    assert body["thinned"] and body["count"] == 3000 and body["shown"] < 3000
    assert "bdata" in body["figure"]["data"][0]["x"] and "bdata" in body["figure"]["data"][0]["customdata"]
    assert client.get(url, HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    assert client.get(url).content == r.content  # from the cache
    # every point as plain JSON on request (the path of small experiments)
    every = json.loads(client.get(url + "?all=1").content)
    assert not every["thinned"] and every["shown"] == 3000 and isinstance(every["figure"]["data"][0]["x"], list)
    # a changed front is a new state: a new ETag and new data
    Candidate.objects.filter(experiment=big, on_front=True).update(on_front=False)
    r2 = client.get(url, HTTP_IF_NONE_MATCH=r["ETag"])
    assert r2.status_code == 200 and r2["ETag"] != r["ETag"]
    assert not any(t["name"].startswith("Pareto front") for t in json.loads(r2.content)["figure"]["data"])


def test_plot_view_refuses_an_unknown_axis(big, client, user):
    client.force_login(user)
    r = client.get(f"/experiments/{big.pk}/plot.json?x=nope")
    assert r.status_code == 400 and "unknown axis" in r.json()["error"]


def test_the_front_refresh_builds_a_large_experiments_plot_ahead(big, monkeypatch):
    """The first visit after a large run finds the default axes' figure built (the front refresh warmed it)."""
    from django.core.cache import caches

    from webapp import services

    monkeypatch.setattr(plots, "THIN_THRESHOLD", 1000)
    caches["plots"].clear()
    services.experiment_refresh_front(experiment_id=big.pk)
    big.refresh_from_db()
    x, y, _ = plots.default_axes(big)
    assert caches["plots"].get("plot:" + plots.plot_etag(big, x, y, every=False)) is not None
    body = json.loads(plots.plot_body(big, x, y))
    assert body["thinned"] and body["status"] == "succeeded"
