"""NSGA-II (Deb et al., 2002) over architectures, with ask/tell.

Objectives are minimised (pass ``-accuracy``). Each generation breeds
``population_size`` children by binary tournament on (front, crowding
distance), crossover and mutation; parents and children are merged and the
best ``population_size`` kept front by front, the last front cut by crowding
distance. Every evaluated point is archived so the caller can take the front of
everything seen.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._types import Arch, Crossover, Feasible, Mutator, Sampler, arch_key
from .evolution import ConstraintError, draw_feasible
from .sorting import crowding_distance, non_dominated_sort

__all__ = ["NSGA2Search", "select_survivors"]


def select_survivors(objectives: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the ``n`` survivors with their front rank and crowding distance."""
    keep: list[np.ndarray] = []
    ranks: list[np.ndarray] = []
    crowd: list[np.ndarray] = []
    left = n
    for r, front in enumerate(non_dominated_sort(objectives)):
        if left <= 0:
            break
        d = crowding_distance(objectives[front])
        if len(front) > left:
            order = np.argsort(-d, kind="stable")[:left]
            front, d = front[order], d[order]
        keep.append(front)
        ranks.append(np.full(len(front), r))
        crowd.append(d)
        left -= len(front)
    return np.concatenate(keep), np.concatenate(ranks), np.concatenate(crowd)


class NSGA2Search:
    def __init__(self, *, sample: Sampler, mutate: Mutator, crossover: Crossover, rng: np.random.Generator,
                 feasible: Feasible | None = None, population_size: int = 100, mutate_prob: float = 0.1,
                 crossover_prob: float = 0.9, max_rounds: int = 50, dedupe: bool = True):
        if population_size < 4:
            raise ValueError("population_size must be at least 4")
        self.sample, self.mutate, self.crossover = sample, mutate, crossover
        self.rng, self.feasible = rng, feasible
        self.population_size = population_size
        self.mutate_prob, self.crossover_prob = mutate_prob, crossover_prob
        self.max_rounds, self.dedupe = max_rounds, dedupe
        self.population: list[Arch] = []
        self.objectives = np.empty((0, 0))
        self._rank = np.empty(0, dtype=np.int64)
        self._crowd = np.empty(0)
        self.generation = 0
        self.evaluations = 0
        self.archive: list[Arch] = []
        self.archive_objectives: list[np.ndarray] = []
        self._seen: set[tuple] = set()
        self._pending: list[Arch] | None = None

    def ask(self) -> list[Arch]:
        if self._pending is not None:
            raise RuntimeError("tell() the previous batch before asking again")
        make = self._random if not self.population else self._offspring
        batch = draw_feasible(make, self.population_size, self.feasible, max_rounds=self.max_rounds)
        if not batch:
            raise ConstraintError("no architecture satisfying the constraint was found; loosen it")
        self._pending = batch
        return list(batch)

    def tell(self, archs: Sequence[Arch], objectives: np.ndarray) -> None:
        if self._pending is None:
            raise RuntimeError("ask() before tell()")
        obj = np.asarray(objectives, dtype=np.float64)
        if obj.ndim != 2 or len(obj) != len(archs):
            raise ValueError("objectives must have shape (len(archs), m)")
        self._pending = None
        self.evaluations += len(archs)
        self.archive.extend(archs)
        self.archive_objectives.extend(obj)
        pool = self.population + list(archs)
        pool_obj = obj if not self.population else np.vstack([self.objectives, obj])
        idx, self._rank, self._crowd = select_survivors(pool_obj, self.population_size)
        self.population = [pool[i] for i in idx]
        self.objectives = pool_obj[idx]
        self.generation += 1

    def front(self) -> tuple[list[Arch], np.ndarray]:
        """The non-dominated architectures among everything evaluated so far."""
        if not self.archive:
            return [], np.empty((0, 0))
        obj = np.asarray(self.archive_objectives)
        first = non_dominated_sort(obj)[0]
        return [self.archive[i] for i in first], obj[first]

    # -- breeding -------------------------------------------------------------
    def _fresh(self, arch: Arch) -> bool:
        if not self.dedupe:
            return True
        key = arch_key(arch)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _random(self, k: int) -> list[Arch]:
        out = []
        for _ in range(4 * k):
            a = self.sample(self.rng)
            if self._fresh(a):
                out.append(a)
                if len(out) == k:
                    break
        return out

    def _tournament(self) -> Arch:
        i, j = self.rng.integers(len(self.population), size=2)
        better = i if (self._rank[i], -self._crowd[i]) <= (self._rank[j], -self._crowd[j]) else j
        return self.population[better]

    def _offspring(self, k: int) -> list[Arch]:
        out = []
        for _ in range(4 * k):
            a = self._tournament()
            if self.rng.random() < self.crossover_prob:
                a = self.crossover(a, self._tournament(), self.rng)
            child = self.mutate(a, self.rng, self.mutate_prob)
            if self._fresh(child):
                out.append(child)
                if len(out) == k:
                    break
        return out
