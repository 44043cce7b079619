"""engine.search.pareto.front_indices: the one front rule of the CLI and the dashboard."""
from __future__ import annotations

import numpy as np

from engine.search.pareto import front_indices
from engine.search.pareto import non_dominated_sort

LAT_ACC = {"latency_ms": "min", "accuracy": "max"}


def test_two_objectives_with_ties_keep_the_first_of_identical_points():
    ms = [{"latency_ms": 2.0, "accuracy": 0.7}, {"latency_ms": 1.0, "accuracy": 0.5},
          {"latency_ms": 2.0, "accuracy": 0.7},  # identical to 0: not on the front
          {"latency_ms": 3.0, "accuracy": 0.6},  # dominated by 0
          {"latency_ms": 1.0, "accuracy": 0.4},  # same latency as 1, worse accuracy
          {"latency_ms": 4.0, "accuracy": 0.9}]
    assert front_indices(ms, LAT_ACC) == [0, 1, 5]


def test_entries_without_a_finite_number_are_left_out():
    ms = [{"latency_ms": 1.0}, {"latency_ms": None, "accuracy": 0.99}, {"latency_ms": 5.0, "accuracy": True},
          {"latency_ms": float("nan"), "accuracy": 0.9}, {"latency_ms": 3.0, "accuracy": 0.5}]
    assert front_indices(ms, LAT_ACC) == [4]
    assert front_indices(ms, {}) == [] and front_indices([], LAT_ACC) == []


def test_one_objective_gives_the_first_best():
    ms = [{"psnr": 20.0}, {"psnr": 30.0}, {"psnr": 30.0}, {"psnr": 10.0}]
    assert front_indices(ms, {"psnr": "max"}) == [1]
    assert front_indices(ms, {"psnr": "min"}) == [3]


def test_matches_non_dominated_sort_on_distinct_points():
    rng = np.random.default_rng(0)
    for m in (2, 3):
        f = rng.random((200, m))
        ms = [{f"o{k}": float(v) for k, v in enumerate(row)} for row in f]
        objectives = {f"o{k}": ("min" if k % 2 == 0 else "max") for k in range(m)}
        signed = f * np.array([1.0 if d == "min" else -1.0 for d in objectives.values()])
        assert front_indices(ms, objectives) == sorted(non_dominated_sort(signed)[0].tolist())
