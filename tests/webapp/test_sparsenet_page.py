"""The experiment page for SparseNets: fronts per aggregation rule, one colour
each; training memory bars; the block connectivity drawn."""
from __future__ import annotations

import pytest

from engine.spaces.aggregation import AggregationSpace, preset_arch
from tests.webapp.test_services import make_exp, toy  # noqa: F401

pytestmark = pytest.mark.django_db

SPACE = AggregationSpace.paper()
NETS = ["densenet-16-8", "densenet-28-8", "sparsenet-16-16", "sparsenet-28-16", "resnet-16-16"]
METRICS = [
    {"network": "densenet-16-8", "rule": "concat-all", "accuracy": 0.80, "params": 60000, "latency_ms": 1.0,
     "latency_source": "measured", "activation_bytes_measured": 9e5, "param_bytes_measured": 2.4e5,
     "grad_bytes_measured": 2.4e5, "optimizer_bytes_measured": 2.4e5},
    {"network": "densenet-28-8", "rule": "concat-all", "accuracy": 0.85, "params": 220000, "latency_ms": 3.0,
     "latency_source": "measured", "activation_bytes_measured": 3e6, "param_bytes_measured": 8.8e5,
     "grad_bytes_measured": 8.8e5, "optimizer_bytes_measured": 8.8e5},
    {"network": "sparsenet-16-16", "rule": "concat-exp", "accuracy": 0.82, "params": 90000, "latency_ms": 1.2,
     "latency_source": "measured", "activation_bytes_measured": 8e5, "param_bytes_measured": 3.6e5,
     "grad_bytes_measured": 3.6e5, "optimizer_bytes_measured": 3.6e5},
    {"network": "sparsenet-28-16", "rule": "concat-exp", "accuracy": 0.81, "params": 220000, "latency_ms": 2.0,
     "latency_source": "measured", "activation_bytes_measured": 1.5e6, "param_bytes_measured": 8.8e5,
     "grad_bytes_measured": 8.8e5, "optimizer_bytes_measured": 8.8e5},
    {"network": "resnet-16-16", "rule": "sum-all", "accuracy": 0.7, "params": 30000, "latency_ms": 0.5,
     "latency_source": "measured", "activation_bytes_measured": 3e5, "param_bytes_measured": 1.2e5,
     "grad_bytes_measured": 1.2e5, "optimizer_bytes_measured": 1.2e5},
]


@pytest.fixture
def sparse_exp(profiles, user):
    archs = [SPACE.structure(preset_arch(n)) for n in NETS]
    return make_exp(user, profiles["local-cpu"], METRICS, technique="sparsenet", archs=archs)


@pytest.fixture
def web(client, user):
    client.force_login(user)
    return client


def test_scatter_has_one_colour_and_one_front_per_rule(web, sparse_exp):
    fig = web.get(f"/experiments/{sparse_exp.pk}/plot.json").json()["figure"]
    points = [t for t in fig["data"] if t.get("mode", "").startswith("markers")]
    assert [t["name"] for t in points] == ["concat-all (2)", "concat-exp (2)", "sum-all (1)"]
    assert len({t["marker"]["color"] for t in points}) == 3
    fronts = {t["name"]: t for t in fig["data"] if t["name"].endswith(" front")}
    # densenet: both on its front (more params, more accuracy); sparsenet: the 28-16 one is dominated
    assert fronts["concat-all front"]["x"] == [60000, 220000]
    assert "concat-exp front" not in fronts  # one point only: no line
    assert fronts["concat-all front"]["line"]["color"] == points[0]["marker"]["color"]
    lat = web.get(f"/experiments/{sparse_exp.pk}/plot.json?x=latency_ms&y=accuracy").json()["figure"]
    lat_fronts = {t["name"]: t for t in lat["data"] if t["name"].endswith(" front")}
    assert lat_fronts["concat-all front"]["x"] == [1.0, 3.0] and "concat-exp front" not in lat_fronts


def test_series_json_has_memory_bars_and_the_connectivity_drawn(web, sparse_exp):
    figs = {f["title"]: f["figure"] for f in web.get(f"/experiments/{sparse_exp.pk}/series.json").json()["figures"]}
    bars = figs["Training memory, measured (bytes)"]
    assert [t["name"] for t in bars["data"]][:1] and bars["data"][0]["x"][0] == "densenet-16-8"
    conn = figs["Block connectivity: #2 sparsenet-16-16"]
    heat = conn["data"][0]
    assert heat["type"] == "heatmap" and len(conn["data"]) == 3  # one per stage
    # SparseNet (4 layers a block): layer 4 reads offsets 1, 2, 4 back (layers 3, 2 and the input); out: 4, 3, 1
    assert heat["z"][3] == [1, 0, 1, 1, 0] and heat["z"][4] == [0, 1, 0, 1, 1]
    dense = figs["Block connectivity: #0 densenet-16-8"]["data"][0]
    assert dense["z"][4] == [1, 1, 1, 1, 1]


def test_experiment_page_renders(web, sparse_exp):
    r = web.get(f"/experiments/{sparse_exp.pk}/")
    assert r.status_code == 200
