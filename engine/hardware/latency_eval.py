"""How far a latency source can be trusted: MAPE, RMSE and Kendall's tau of
predicted against measured latencies (numpy only)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["mape", "rmse", "kendall_tau", "latency_errors"]


def mape(pred: Sequence[float], true: Sequence[float]) -> float:
    """Mean absolute percentage error, as a fraction (0.05 = 5 %)."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    return float(np.mean(np.abs(p - t) / np.abs(t)))


def rmse(pred: Sequence[float], true: Sequence[float]) -> float:
    p, t = np.asarray(pred, float), np.asarray(true, float)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties handled); 1 = same order, -1 = reversed."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError("need two sequences of equal length >= 2")
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    concord = float(np.sum(dx * dy))
    nx, ny = float(np.sum(dx != 0)), float(np.sum(dy != 0))
    if nx == 0 or ny == 0:
        return 0.0
    return float(concord / np.sqrt(nx * ny))


def latency_errors(pred: Sequence[float], true: Sequence[float]) -> dict[str, float]:
    return {"mape": mape(pred, true), "rmse_ms": rmse(pred, true), "kendall_tau": kendall_tau(pred, true)}
