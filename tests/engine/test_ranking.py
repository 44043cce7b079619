"""The one ranking-metrics module: known values, and NaN where an order is undefined."""
from __future__ import annotations

import math

import numpy as np
import pytest

from engine.ranking import kendall_tau, latency_errors, mape, rank_metrics, rmse, spearman


def test_known_values():
    assert rmse([1, 2, 3, 4.0], [1, 2, 3, 5.0]) == 0.5
    assert mape([110, 90], [100, 100]) == pytest.approx(0.1)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / np.sqrt(30))  # tau-b with a tie
    assert rank_metrics(np.array([1, 2, 3]), np.array([2, 4, 6])) == (pytest.approx(np.sqrt(14 / 3)), 1.0, 1.0)
    assert latency_errors([1.0, 2.0, 4.0], [1.0, 2.0, 4.0]) == {"mape": 0.0, "rmse_ms": 0.0, "kendall_tau": 1.0}


def test_undefined_orders_are_nan_and_lengths_must_match():
    for a, b in (([1, 2], [1, 2]), ([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [5, 5, 5])):
        assert math.isnan(spearman(a, b)) and math.isnan(kendall_tau(a, b))
    assert math.isnan(rmse([], []))
    with pytest.raises(ValueError):
        kendall_tau([1, 2, 3], [1, 2])
