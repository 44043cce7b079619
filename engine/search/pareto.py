"""The one Pareto module: dominance, non-dominated sorting, crowding
distance, two-objective fronts and hypervolume, and :func:`front_indices`, the
front every consumer marks (CLI, dashboard, searches) so they agree on ties.

``non_dominated_sort`` / ``crowding_distance`` / ``dominates`` /
``pareto_ranks`` take arrays that are minimised (negate a metric to be
maximised). Two objectives use an O(n log n) sweep with a binary search over
the fronts (Jensen 2003 / ENS-BS); more objectives use Deb's O(m n^2) sort.
``front_2d`` / ``hypervolume_2d`` take (x, y) points with a direction per
objective.
"""
from __future__ import annotations

from bisect import bisect_left
from math import isfinite
from typing import Any, Literal, Mapping, Sequence

import numpy as np

__all__ = ["Direction", "non_dominated_sort", "crowding_distance", "dominates", "pareto_ranks", "front_indices",
           "front_of_values", "front_2d", "front_mask_2d", "hypervolume_2d", "as_minimised"]

#: "min" or "max"
Direction = Literal["min", "max"]


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere (minimising)."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a <= b) and np.any(a < b))


def _sort_2d(f: np.ndarray) -> list[np.ndarray]:
    order = np.lexsort((f[:, 1], f[:, 0]))  # by f0, then f1
    # Each front is summarised by its last member's key (f1, f0): since members
    # arrive by increasing f0, the last member has the smallest f1 of its front,
    # so it dominates p exactly when its key is lexicographically below p's.
    # These keys stay sorted across fronts, hence the binary search.
    keys: list[tuple[float, float]] = []
    members: list[list[int]] = []
    for i in order:
        key = (float(f[i, 1]), float(f[i, 0]))
        k = bisect_left(keys, key)
        if k == len(keys):
            keys.append(key)
            members.append([int(i)])
        else:
            keys[k] = key
            members[k].append(int(i))
    return [np.array(m, dtype=np.int64) for m in members]


def _sort_general(f: np.ndarray) -> list[np.ndarray]:
    n = len(f)
    le = np.all(f[:, None, :] <= f[None, :, :], axis=2)
    lt = np.any(f[:, None, :] < f[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)
    fronts = []
    current = np.flatnonzero(count == 0)
    assigned = 0
    while len(current):
        fronts.append(current)
        assigned += len(current)
        count = count - dom[current].sum(axis=0)
        count[current] = -1
        if assigned >= n:
            break
        current = np.flatnonzero(count == 0)
    return fronts


def non_dominated_sort(objectives: np.ndarray) -> list[np.ndarray]:
    """Split points into fronts: front 0 is non-dominated, front 1 is
    non-dominated once front 0 is removed, and so on. ``objectives`` has shape
    (n, m) and is minimised. Returns index arrays, best front first."""
    f = np.asarray(objectives, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError("objectives must have shape (n, m)")
    if len(f) == 0:
        return []
    if not np.all(np.isfinite(f)):
        raise ValueError("objectives must be finite")
    if f.shape[1] == 1:
        vals = np.unique(f[:, 0])
        return [np.flatnonzero(f[:, 0] == v) for v in vals]
    if f.shape[1] == 2:
        return _sort_2d(f)
    return _sort_general(f)


def pareto_ranks(objectives: np.ndarray) -> np.ndarray:
    """Front index of every point (0 = non-dominated)."""
    f = np.asarray(objectives, dtype=np.float64)
    ranks = np.empty(len(f), dtype=np.int64)
    for r, idx in enumerate(non_dominated_sort(f)):
        ranks[idx] = r
    return ranks


def crowding_distance(objectives: np.ndarray) -> np.ndarray:
    """Crowding distance of each point within one front (boundary points get inf)."""
    f = np.asarray(objectives, dtype=np.float64)
    n, m = f.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for j in range(m):
        order = np.argsort(f[:, j], kind="stable")
        col = f[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span <= 0:
            continue
        dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def _sign(direction: str) -> float:
    if direction not in ("min", "max"):
        raise ValueError(f"a direction is 'min' or 'max', not {direction!r}")
    return 1.0 if direction == "min" else -1.0


def as_minimised(values: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """``values`` (n, m) with every "max" column negated, so all are minimised."""
    f = np.asarray(values, dtype=np.float64)
    if f.size == 0:
        f = f.reshape(0, len(directions))
    if f.ndim != 2 or f.shape[1] != len(directions):
        raise ValueError(f"values must have shape (n, {len(directions)})")
    return f * np.array([_sign(d) for d in directions])


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    v = float(v)
    return v if isfinite(v) else None


def front_indices(points: Sequence[Mapping[str, Any]], directions: Mapping[str, str]) -> list[int]:
    """Indices (ascending) of the non-dominated points among metric dicts, for
    any number of objectives ``directions`` (metric -> "min" / "max").

    A point dominates another when it is no worse in every objective and
    better in one. Rules, the same everywhere the front is drawn:

    - a point lacking a finite number for an objective (missing, None, NaN,
      a bool or text) is never on the front;
    - identical points (equal in every objective): the first is kept, the
      later ones are off the front.
    """
    names = list(directions)
    if not names:
        return []
    rows, vals = [], []
    for i, p in enumerate(points):
        v = [_number(p.get(k)) for k in names]
        if all(x is not None for x in v):
            rows.append(i)
            vals.append(v)
    if not rows:
        return []
    return [rows[j] for j in front_of_values(vals, [directions[k] for k in names])]


def front_of_values(values: np.ndarray | Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """:func:`front_indices` for an (n, m) array of finite values with a
    direction per column: ascending indices, identical points kept once (the first)."""
    f = as_minimised(values, directions)
    if len(f) == 0:
        return []
    first = np.sort(non_dominated_sort(f)[0])
    seen: set[tuple[float, ...]] = set()
    out = []
    for j in first.tolist():
        key = tuple(f[j].tolist())
        if key not in seen:
            seen.add(key)
            out.append(j)
    return out


def _as_min(points: Sequence[tuple[float, float]], directions: tuple[str, str]) -> list[tuple[float, float]]:
    sx, sy = _sign(directions[0]), _sign(directions[1])
    return [(sx * x, sy * y) for x, y in points]


def front_2d(points: Sequence[tuple[float, float]], directions: tuple[str, str] = ("min", "max")) -> list[int]:
    """Indices of the non-dominated (x, y) points (sort by x, sweep keeping the
    best y), in order of x. Ties as :func:`front_indices`: of identical points,
    the first is kept."""
    pts = _as_min(points, directions)
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], pts[i][1], i))
    out: list[int] = []
    best_y = float("inf")
    for i in order:
        if pts[i][1] < best_y:
            out.append(i)
            best_y = pts[i][1]
    return out


def front_mask_2d(xs: np.ndarray, ys: np.ndarray, directions: tuple[str, str] = ("min", "max")) -> np.ndarray:
    """:func:`front_2d` on two arrays of finite values, vectorised (no Python loop,
    for 100,000 points and more): a boolean mask of the non-dominated points, the
    same ties rule (of identical points the first is kept)."""
    x = np.asarray(xs, dtype=np.float64) * _sign(directions[0])
    y = np.asarray(ys, dtype=np.float64) * _sign(directions[1])
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("xs and ys must be 1-d arrays of one length")
    mask = np.zeros(len(x), dtype=bool)
    if len(x) == 0:
        return mask
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("front_mask_2d takes finite values only")
    order = np.lexsort((np.arange(len(x)), y, x))  # by x, then y, then index
    ys_sorted = y[order]
    best_before = np.concatenate(([np.inf], np.minimum.accumulate(ys_sorted)[:-1]))
    mask[order[ys_sorted < best_before]] = True
    return mask


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
