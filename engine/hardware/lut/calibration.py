"""Calibration of a lookup table on whole measured networks: isolated ops run
with warm caches and without the network's own overhead, so a raw sum of
entries is usually biased; ``measured ≈ scale x sum + per_op_ms x ops + offset``
corrects it (numpy only)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["fit_calibration"]


def fit_calibration(sums: Sequence[float], op_counts: Sequence[int], measured_ms: Sequence[float]
                    ) -> tuple[float, float, float]:
    """``(scale, per_op_ms, offset)`` with ``measured ≈ scale x sum + per_op_ms x ops + offset``,
    least squares on relative error (weights 1/measured). The per-op term
    (what an op costs in a network beyond its isolated time: cold caches, the
    container's dispatch) is fitted from 8 networks on and kept only when every
    fitted network stays positive; else scale and offset alone, else the median ratio."""
    x = np.asarray(sums, dtype=np.float64)
    n = np.asarray(op_counts, dtype=np.float64)
    y = np.asarray(measured_ms, dtype=np.float64)
    w = 1.0 / y
    for cols in ([x, n, np.ones_like(x)], [x, np.ones_like(x)]):
        if len(cols) == 3 and (len(y) < 8 or np.ptp(n) == 0):
            continue
        A = np.stack(cols, 1)
        coef = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)[0]
        if np.all(np.isfinite(coef)) and coef[0] > 0 and np.all(A @ coef > 0):
            return (float(coef[0]), float(coef[1]), float(coef[2])) if len(cols) == 3 else \
                (float(coef[0]), 0.0, float(coef[1]))
    return float(np.median(y / x)), 0.0, 0.0
