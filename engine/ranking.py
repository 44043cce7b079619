"""How well predictions agree with the truth: errors (RMSE, MAPE) and rank
correlations (Spearman's rho, Kendall's tau-b), for the accuracy and latency
predictors, the latency sources and the benchmarks.

A rank correlation is undefined (NaN) on fewer than three pairs or when either
side has no spread: there is no order to agree with.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["rmse", "mape", "spearman", "kendall_tau", "rank_metrics", "latency_errors"]


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if len(x) != len(y):
        raise ValueError(f"need two sequences of equal length, got {len(x)} and {len(y)}")
    return x, y


def rmse(pred: Sequence[float], true: Sequence[float]) -> float:
    """Root mean squared error (NaN when empty)."""
    p, t = _pair(pred, true)
    return float(np.sqrt(np.mean((p - t) ** 2))) if len(t) else float("nan")


def mape(pred: Sequence[float], true: Sequence[float]) -> float:
    """Mean absolute percentage error, as a fraction (0.05 = 5 %)."""
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t) / np.abs(t)))


def _ranked(x: np.ndarray, y: np.ndarray) -> bool:
    return len(x) >= 3 and bool(np.ptp(x) > 0) and bool(np.ptp(y) > 0)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged)."""
    x, y = _pair(a, b)
    return float(stats.spearmanr(x, y).statistic) if _ranked(x, y) else float("nan")


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties handled); 1 = same order, -1 = reversed."""
    x, y = _pair(a, b)
    return float(stats.kendalltau(x, y).statistic) if _ranked(x, y) else float("nan")


def rank_metrics(pred: Sequence[float], true: Sequence[float]) -> tuple[float, float, float]:
    """(RMSE, Spearman rho, Kendall tau) of predictions against true values."""
    return rmse(pred, true), spearman(pred, true), kendall_tau(pred, true)


def latency_errors(pred: Sequence[float], true: Sequence[float]) -> dict[str, float]:
    """How far a latency source can be trusted: MAPE, RMSE (ms) and Kendall's tau
    of predicted against measured latencies."""
    return {"mape": mape(pred, true), "rmse_ms": rmse(pred, true), "kendall_tau": kendall_tau(pred, true)}
