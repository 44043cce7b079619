"""The evolution technique's accuracy-predictor pieces: repeatability of the
sub-net scores and the constrained search comparison."""
import numpy as np
import pytest

from engine.nas.predicting import repeatability
from engine.nas.searching import compare_constrained
from engine.search import SearchRun


def test_repeatability_of_identical_scorings_is_perfect():
    rng = np.random.default_rng(0)
    p = np.linspace(0.5, 0.95, 12)[:, None]
    first = rng.random((12, 400)) < p
    r = repeatability(first, first.copy())
    assert r["eval_repeatability_spearman"] == pytest.approx(1.0)
    assert r["eval_noise_rmse"] == 0.0
    assert r["eval_repeat_subnets"] == 12
    assert 0.5 < r["eval_halves_spearman"] <= 1.0  # sub-nets 4.1 points apart, 200 images per half


def test_repeatability_of_pure_noise_is_near_zero():
    rng = np.random.default_rng(1)
    first = rng.random((40, 300)) < 0.9  # every sub-net the same: any ranking is noise
    second = rng.random((40, 300)) < 0.9
    r = repeatability(first, second)
    assert abs(r["eval_repeatability_spearman"]) < 0.4
    assert r["eval_noise_rmse"] == pytest.approx(np.sqrt(0.9 * 0.1 / 300), rel=0.35)


def _run(best):
    r = SearchRun()
    for b in best:
        r.add([{}] * 10, np.zeros(10), np.zeros(10))
        r.best_fitness.append(b)
    return r


def test_compare_constrained_counts_evaluations_to_match():
    er, rr = _run([0.80, 0.90, 0.95]), _run([0.85, 0.88, 0.89])
    c = compare_constrained(er, rr)
    assert c["predicted_accuracy_gap"] == pytest.approx(0.06)
    assert c["evaluations_to_match_random"] == 20 and c["evaluation_speedup"] == pytest.approx(1.5)
    c = compare_constrained(_run([0.8, 0.8]), _run([0.9, 0.9]))
    assert c["evaluations_to_match_random"] is None and c["evaluation_speedup"] is None


def test_front_stands_each_network_once():
    r = SearchRun()
    archs = [{"n": 1, "unused": 0}, {"n": 1, "unused": 5}, {"n": 2, "unused": 0}, {"n": 3, "unused": 0}]
    r.add(archs, np.array([0.9, 0.9, 0.95, 0.5]), np.array([1.0, 1.0, 2.0, 3.0]))
    assert r.front() == [0, 1, 2]  # the same network twice, both non-dominated
    assert r.front(key=lambda a: a["n"]) == [0, 2]


def test_source_keys_drop_the_unit():
    from engine.metrics import estimate_source, source_key

    assert source_key("latency_ms") == "latency_source" and source_key("accuracy") == "accuracy_source"
    assert source_key("predicted_latency_ms") == "predicted_latency_source"
    m = {"predicted_latency_ms": 2.0, "predicted_latency_source": "lut", "latency_ms": 2.2,
         "latency_source": "measured"}
    assert estimate_source(m, "predicted_latency_ms") == "lut" and estimate_source(m, "latency_ms") == ""
    assert estimate_source(m, "latency_source") == ""
