"""NSGA-II (Deb et al., 2002) over architectures (a ``Searcher``).

Each generation breeds ``population_size`` children by binary tournament on
(front, crowding distance), crossover and mutation -- in batches, with the
space's vectorised operators where it has them; parents and children are
merged and the best ``population_size`` kept front by front, the last front
cut by crowding distance. Every evaluated point is archived so the caller can
take the front of everything seen.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ._types import Arch, Feasible, Operators, arch_key, crossover_batch, mutate_batch, sample_batch
from .base import ConstraintError, Searcher, draw_feasible, floats_from_json, floats_to_json
from .pareto import crowding_distance, non_dominated_sort

__all__ = ["NSGA2Search", "select_survivors"]


def select_survivors(objectives: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the ``n`` survivors of minimised ``objectives`` with their
    front rank and crowding distance."""
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


class NSGA2Search(Searcher):
    def __init__(self, space: Operators, *, rng: np.random.Generator, directions: Mapping[str, str],
                 feasible: Feasible | None = None, population_size: int = 100, mutate_prob: float = 0.1,
                 crossover_prob: float = 0.9, max_rounds: int = 50, dedupe: bool = True):
        super().__init__(space, rng=rng, directions=directions, feasible=feasible, max_rounds=max_rounds)
        if population_size < 4:
            raise ValueError("population_size must be at least 4")
        self.population_size = population_size
        self.mutate_prob, self.crossover_prob = mutate_prob, crossover_prob
        self.dedupe = dedupe
        self.population: list[Arch] = []
        #: the population's objectives, minimised ("max" columns negated)
        self.objectives = np.empty((0, len(self.directions)))
        self._rank = np.empty(0, dtype=np.int64)
        self._crowd = np.empty(0)
        self.generation = 0
        self.archive: list[Arch] = []
        #: every evaluation's objective values, as told
        self.archive_values: list[np.ndarray] = []
        self._seen: set[str] = set()

    # -- Searcher -------------------------------------------------------------
    def _propose(self, n: int | None) -> list[Arch]:
        if n is not None and n != self.population_size:
            raise ValueError(f"a generation has {self.population_size} architectures, not {n}")
        make = self._random if not self.population else self._offspring
        batch = draw_feasible(make, self.population_size, self.feasible, max_rounds=self.max_rounds)
        if not batch:
            raise ConstraintError("no architecture satisfying the constraint was found; loosen it")
        return batch

    def _record(self, archs: list[Arch], values: np.ndarray) -> None:
        obj = self.minimised(values)
        self.archive.extend(archs)
        self.archive_values.extend(values)
        pool = self.population + archs
        pool_obj = obj if not self.population else np.vstack([self.objectives, obj])
        idx, self._rank, self._crowd = select_survivors(pool_obj, self.population_size)
        self.population = [pool[i] for i in idx]
        self.objectives = pool_obj[idx]
        self.generation += 1

    def _evaluated(self) -> tuple[list[Arch], np.ndarray]:
        return self.archive, np.asarray(self.archive_values).reshape(len(self.archive), len(self.directions))

    def _state(self) -> dict[str, Any]:
        return {"population": self.population, "objectives": self.objectives.tolist(),
                "rank": self._rank.tolist(), "crowd": floats_to_json(self._crowd), "generation": self.generation,
                "archive": self.archive, "archive_values": [v.tolist() for v in self.archive_values],
                "seen": sorted(self._seen)}

    def _load(self, state: Mapping[str, Any]) -> None:
        m = len(self.directions)
        self.population = [dict(a) for a in state["population"]]
        self.objectives = np.asarray(state["objectives"], dtype=np.float64).reshape(-1, m)
        self._rank = np.asarray(state["rank"], dtype=np.int64)
        self._crowd = floats_from_json(state["crowd"], np.inf)
        self.generation = int(state["generation"])
        self.archive = [dict(a) for a in state["archive"]]
        self.archive_values = [np.asarray(v, dtype=np.float64) for v in state["archive_values"]]
        self._seen = set(state["seen"])

    # -- breeding -------------------------------------------------------------
    def _fresh(self, archs: list[Arch], k: int) -> list[Arch]:
        """The first ``k`` of ``archs`` not drawn before (all of them without de-duplication)."""
        if not self.dedupe:
            return archs[:k]
        out = []
        for a in archs:
            key = arch_key(a)
            if key not in self._seen:
                self._seen.add(key)
                out.append(a)
                if len(out) == k:
                    break
        return out

    def _random(self, k: int) -> list[Arch]:
        out: list[Arch] = []
        for _ in range(4):
            out += self._fresh(sample_batch(self.space, self.rng, k), k - len(out))
            if len(out) >= k:
                break
        return out

    def _tournament(self, k: int) -> np.ndarray:
        """``k`` binary tournaments on (rank, -crowding): the winners' indices."""
        ij = self.rng.integers(len(self.population), size=(k, 2))
        i, j = ij[:, 0], ij[:, 1]
        ri, rj, ci, cj = self._rank[i], self._rank[j], self._crowd[i], self._crowd[j]
        first = (ri < rj) | ((ri == rj) & (ci >= cj))
        return np.where(first, i, j)

    def _offspring(self, k: int) -> list[Arch]:
        out: list[Arch] = []
        pop = self.population
        for _ in range(4):
            need = k - len(out)
            a = self._tournament(need)
            cross = self.rng.random(need) < self.crossover_prob
            b = self._tournament(need)
            parents = [pop[i] for i in a]
            crossed = crossover_batch(self.space, [pop[i] for i in a[cross]], [pop[j] for j in b[cross]], self.rng)
            it = iter(crossed)
            mixed = [next(it) if c else p for p, c in zip(parents, cross)]
            out += self._fresh(mutate_batch(self.space, mixed, self.rng, self.mutate_prob), need)
            if len(out) >= k:
                break
        return out
