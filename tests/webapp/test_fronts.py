"""The dashboard's stored front and the CLI's results folder use one rule
(engine.search.pareto.front_indices), ties included."""
from __future__ import annotations

import json

import pytest

from engine import techniques
from engine.cli_reporter import DirectoryReporter
from engine.hardware import get_profile
from engine.search.pareto import front_indices
from engine.results import write_results
from tests.webapp.test_services import fast_hashing, make_exp  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

#: identical points (0 and 2), a missing accuracy (3) and equal latencies (1 and 4)
METRICS = [{"latency_ms": 2.0, "accuracy": 0.7}, {"latency_ms": 1.0, "accuracy": 0.5},
           {"latency_ms": 2.0, "accuracy": 0.7}, {"latency_ms": 0.5}, {"latency_ms": 1.0, "accuracy": 0.6},
           {"latency_ms": 5.0, "accuracy": 0.9}]


def test_cli_and_dashboard_agree_on_ties(profiles, user, tmp_path):
    exp = make_exp(user, profiles["local-cpu"], METRICS, technique="model-zoo")
    stored = sorted(exp.candidates.filter(on_front=True).values_list("index", flat=True))
    assert stored == front_indices(METRICS, {"latency_ms": "min", "accuracy": "max"}) == [0, 4, 5]

    tech = techniques.get("model-zoo")
    rep = DirectoryReporter(tmp_path / "run" / "artifacts", workdir=tmp_path / "work", progress_bar=False)
    for m in METRICS:
        rep.candidate({}, m)
    (tmp_path / "run").mkdir(exist_ok=True)
    info = write_results(tmp_path / "run", tech, tech.parse({}), get_profile("local-cpu"), rep, None,
                         "succeeded", "", 0.0)
    assert info["front"] == stored
    assert [c["on_front"] for c in json.loads((tmp_path / "run" / "candidates.json").read_text())] == [
        i in stored for i in range(len(METRICS))]
