"""Non-dominated sorting and crowding distance (NSGA-II, Deb et al. 2002).

All objectives are minimised: negate a metric that is to be maximised before
sorting. Two objectives use an O(n log n) sweep with a binary search over the
fronts (Jensen 2003 / ENS-BS); more objectives use Deb's O(m n^2) sort.
"""
from __future__ import annotations

from bisect import bisect_left

import numpy as np

__all__ = ["non_dominated_sort", "crowding_distance", "dominates", "pareto_ranks"]


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
