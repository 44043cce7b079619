"""Two-objective Pareto fronts and hypervolume, in O(n log n).

Directions are "min" or "max" per objective; internally everything is turned
into minimisation.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

__all__ = ["front_2d", "front_of", "hypervolume_2d"]


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


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def front_of(metrics: Sequence[Mapping[str, Any]], objectives: Mapping[str, str]) -> list[int]:
    """Indices (ascending) of the non-dominated entries of ``metrics`` on
    ``objectives`` (``{metric: "min" | "max"}``, any number of them). The one
    front rule of the CLI and the dashboard.

    Entries lacking a finite number for some objective are left out; with no
    objectives the front is empty. Ties: of identical points, the first is kept
    (so one objective gives the single best entry, the first of equals).
    """
    keys, signs = list(objectives), [1.0 if d == "min" else -1.0 for d in objectives.values()]
    rows: list[int] = []
    pts: list[tuple[float, ...]] = []
    for i, m in enumerate(metrics):
        values = [m.get(k) for k in keys]
        if keys and all(map(_finite, values)):
            rows.append(i)
            pts.append(tuple([s * v for s, v in zip(signs, values)]))
    if len(keys) == 2:
        return sorted(rows[j] for j in front_2d(pts, ("min", "min")))
    kept: list[int] = []  # lexicographic order: whatever dominates (or equals) a point comes before it
    for j in sorted(range(len(pts)), key=lambda j: (pts[j], j)):
        if not any(all(a <= b for a, b in zip(pts[k], pts[j])) for k in kept):
            kept.append(j)
    return sorted(rows[j] for j in kept)
