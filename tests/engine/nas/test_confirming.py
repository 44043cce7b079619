"""Winners checked against the limit on the trusted source and on the super-net."""
import numpy as np
import pytest

from engine.hardware.latency import LatencyEstimate
from engine.nas.confirming import Checked, compare_checked, confirm_winners, headline, ranked_distinct
from engine.ranking import mean_difference_ci, spearman_ci
from engine.search import SearchRun


def _run(fitness, cost, keys=None):
    run = SearchRun()
    archs = [{"id": k} for k in (keys or range(len(fitness)))]
    run.add(archs, np.asarray(fitness, float), np.asarray(cost, float))
    return run


def test_ranked_distinct_orders_by_fitness_once_per_network_and_skips_infeasible():
    run = _run([0.5, 0.9, 0.9, -np.inf, 0.7], [1, 1, 1, 1, 1], keys=["a", "b", "b", "c", "d"])
    assert ranked_distinct(run, key=lambda a: a["id"]) == [1, 4, 0]


def test_a_winner_over_the_limit_on_the_trusted_source_is_replaced_by_the_next_that_holds():
    # estimated latencies all under the 3.47 ms limit; the measurement puts the best one at 3.61 ms
    run = _run([0.96, 0.95, 0.94, 0.93], [3.46, 3.40, 3.30, 3.20])
    trusted = {0: 3.61, 1: 3.44, 2: 3.50, 3: 3.10}
    calls = []

    def measure(archs):
        calls.append([a["id"] for a in archs])
        return [LatencyEstimate(trusted[a["id"]], "measured") for a in archs]
    conf = confirm_winners(run, key=lambda a: a["id"], n=2, limit_ms=3.47, final_latency=measure,
                           accuracy=lambda a: 0.9)
    kept = conf.kept
    assert [c.arch["id"] for c in kept] == [1, 3] and [c.arch["id"] for c in conf.broke] == [0, 2]
    assert all(c.within_limit and c.latency_ms <= 3.47 and c.latency_source == "measured" for c in kept)
    assert calls[0] == [0, 1] and conf.first_over == 1  # the two best first: one broke the limit
    assert kept[0].predicted_latency_ms == 3.40 and kept[0].supernet_accuracy == 0.9


def test_replacements_are_chosen_with_the_estimate_corrected_by_what_the_measurement_showed():
    # the table underestimates every network by 10 %: the next best whose corrected estimate holds is taken,
    # not the ones just under the limit by the table that would break it too
    cost = [3.45, 3.44, 3.43, 3.40, 3.10, 3.05]
    run = _run([0.96, 0.95, 0.94, 0.93, 0.92, 0.91], cost)
    conf = confirm_winners(run, key=lambda a: a["id"], n=2, limit_ms=3.47, accuracy=lambda a: 0.9,
                           final_latency=lambda archs: [LatencyEstimate(cost[a["id"]] * 1.1, "measured")
                                                        for a in archs])
    assert [c.arch["id"] for c in conf.kept] == [4, 5] and conf.first_over == 2
    assert conf.calibration == pytest.approx(1.1)
    assert len(conf.broke) == 2  # only the first two were measured in vain


def _checked(pred, true):
    return [Checked(i, {}, p, 1.0, 1.0, "measured", True, t) for i, (p, t) in enumerate(zip(pred, true))]


def test_the_headline_says_when_the_super_net_contradicts_the_predictor():
    # predicted: evolution ahead; on the super-net: random search's winners are better
    evo = _checked([0.964, 0.963, 0.962], [0.936, 0.937, 0.938])
    rnd = _checked([0.953, 0.952, 0.951], [0.945, 0.946, 0.944])
    cmp = compare_checked(evo, rnd)
    assert cmp["predicted_gap"] > 0 > cmp["supernet_gap"]
    assert cmp["supernet_gap_ci_high"] < 0 and cmp["supernet_confirms"] is False
    text = headline(cmp, limit_ms=3.47, over=1, n=6, source="measured")
    assert "does NOT confirm" in text and "1 of the 6 best by the estimate broke the limit" in text
    # and when it agrees
    cmp = compare_checked(rnd, evo)
    assert cmp["supernet_confirms"] is True and "confirms evolution's advantage" in headline(
        cmp, limit_ms=3.47, over=0, n=3, source="measured")


def test_intervals_cover_the_estimate_and_narrow_with_more_data():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.95, 0.01, 5), rng.normal(0.94, 0.01, 5)
    lo, hi = mean_difference_ci(a, b)
    assert lo <= a.mean() - b.mean() <= hi
    lo2, hi2 = mean_difference_ci(rng.normal(0.95, 0.01, 200), rng.normal(0.94, 0.01, 200))
    assert hi2 - lo2 < hi - lo and lo2 > 0
    x = rng.normal(size=40)
    lo, hi = spearman_ci(x, x + rng.normal(scale=0.3, size=40))
    assert 0.5 < lo <= hi <= 1
    assert all(np.isnan(spearman_ci([1, 1, 1], [1, 2, 3])))
    with pytest.raises(ValueError):
        spearman_ci([1, 2, 3], [1, 2])
