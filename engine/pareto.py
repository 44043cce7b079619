"""Two-objective Pareto fronts and hypervolume, in O(n log n).

Directions are "min" or "max" per objective; internally everything is turned
into minimisation.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["front_2d", "hypervolume_2d"]


def _as_min(points: Sequence[tuple[float, float]], directions: tuple[str, str]) -> list[tuple[float, float]]:
    sx = 1.0 if directions[0] == "min" else -1.0
    sy = 1.0 if directions[1] == "min" else -1.0
    return [(sx * x, sy * y) for x, y in points]


def front_2d(points: Sequence[tuple[float, float]], directions: tuple[str, str] = ("min", "max")) -> list[int]:
    """Indices of the non-dominated points (sort by x, sweep keeping the best y).

    Ties: of identical points, the first is kept.
    """
    pts = _as_min(points, directions)
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], pts[i][1], i))
    out: list[int] = []
    best_y = float("inf")
    for i in order:
        if pts[i][1] < best_y:
            out.append(i)
            best_y = pts[i][1]
    return out


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float],
                   directions: tuple[str, str] = ("min", "max")) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (a point worse
    than all in both objectives). Points beyond the reference add nothing."""
    pts = _as_min(points, directions)
    rx, ry = _as_min([reference], directions)[0]
    pts = [p for p in pts if p[0] < rx and p[1] < ry]
    if not pts:
        return 0.0
    idx = front_2d(pts, ("min", "min"))
    front = sorted((pts[i] for i in idx), key=lambda p: p[0])
    area = 0.0
    for k, (x, y) in enumerate(front):
        next_x = front[k + 1][0] if k + 1 < len(front) else rx
        area += (next_x - x) * (ry - y)
    return area
