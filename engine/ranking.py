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

__all__ = ["rmse", "mape", "spearman", "kendall_tau", "rank_metrics", "latency_errors", "spearman_ci",
           "mean_difference_ci"]


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


def spearman_ci(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of Spearman's rho, pairs resampled
    together; (nan, nan) where rho is undefined. Resamples without spread
    (rho undefined there) are left out; with fewer than half of them
    defined the interval is (nan, nan)."""
    x, y = _pair(a, b)
    if not _ranked(x, y):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(resamples):
        i = rng.integers(0, len(x), len(x))
        if _ranked(x[i], y[i]):
            rhos.append(stats.spearmanr(x[i], y[i]).statistic)
    rhos = np.asarray(rhos, float)
    rhos = rhos[np.isfinite(rhos)]
    if len(rhos) < resamples // 2:
        return float("nan"), float("nan")
    q = (1 - level) / 2
    return float(np.quantile(rhos, q)), float(np.quantile(rhos, 1 - q))


def mean_difference_ci(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """A percentile bootstrap interval of mean(a) - mean(b), each sample
    resampled on its own (a side with one value contributes that value);
    (nan, nan) when a side is empty."""
    x, y = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if len(x) == 0 or len(y) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    dx = x[rng.integers(0, len(x), (resamples, len(x)))].mean(1)
    dy = y[rng.integers(0, len(y), (resamples, len(y)))].mean(1)
    q = (1 - level) / 2
    return float(np.quantile(dx - dy, q)), float(np.quantile(dx - dy, 1 - q))
