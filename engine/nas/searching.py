"""Evolution, NSGA-II and random search over an MBConv space with predictors,
side by side at equal evaluations (usable without a reporter)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..pareto import front_2d, hypervolume_2d
from ..search import EvolutionSearch, EvolutionSettings, NSGA2Search, RandomSearch, non_dominated_sort
from ..spaces.mbconv import MBConvSpace

__all__ = ["Scorer", "SearchRun", "MBConvOperators", "constrained_search", "front_search", "hypervolume_of",
           "reference_point", "compare_constrained"]

#: archs -> values (array); accuracy (predicted) or latency (ms)
Scorer = Callable[[Sequence[dict[str, Any]]], np.ndarray]
#: called after each generation: (generation, evolution run, random run)
OnGeneration = Callable[[int, "SearchRun", "SearchRun"], None]


@dataclass
class SearchRun:
    """Everything one search evaluated: architectures, accuracy, latency, and curves."""

    archs: list[dict[str, Any]] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    best_fitness: list[float] = field(default_factory=list)
    hypervolume: list[float] = field(default_factory=list)
    #: the running non-dominated set as (latency, accuracy) points
    front_points: list[tuple[float, float]] = field(default_factory=list)
    #: evaluations so far, after each generation
    evaluations: list[int] = field(default_factory=list)

    def add(self, archs: Sequence[dict[str, Any]], acc: np.ndarray, lat: np.ndarray) -> None:
        self.archs.extend(archs)
        self.acc.extend(float(a) for a in acc)
        self.lat.extend(float(v) for v in lat)
        pts = self.front_points + [(float(x), float(y)) for x, y in zip(lat, acc)]
        self.front_points = [pts[i] for i in front_2d(pts, ("min", "max"))]
        self.evaluations.append(len(self.archs))

    def evaluations_to_reach(self, fitness: float) -> int | None:
        """Evaluations after which the best fitness first reached ``fitness``
        (None if it never did)."""
        for n, best in zip(self.evaluations, self.best_fitness):
            if best >= fitness:
                return n
        return None

    def front(self, key: Callable[[dict[str, Any]], Any] | None = None) -> list[int]:
        """Indices of the non-dominated (latency min, accuracy max) points, by
        latency. With ``key`` (e.g. ``space.network_key``) a network met again
        (the search re-evaluates survivors' copies and genomes that differ
        only in unused genes) stands once, at its first evaluation."""
        if not self.archs:
            return []
        f = np.stack([np.asarray(self.lat), -np.asarray(self.acc)], 1)
        first = sorted(non_dominated_sort(f)[0].tolist())
        if key is not None:
            seen: set = set()
            unique = []
            for i in first:
                k = key(self.archs[i])
                if k not in seen:
                    seen.add(k)
                    unique.append(i)
            first = unique
        return sorted(first, key=lambda i: self.lat[i])


def reference_point(space: MBConvSpace, accuracy: Scorer, latency: Scorer, rng: np.random.Generator,
                    n: int = 1000) -> tuple[float, float]:
    """A hypervolume reference (latency, accuracy) worse than nearly all of the
    space: 1.1 x the largest latency and the lowest accuracy of ``n`` samples."""
    archs = [space.sample(rng) for _ in range(n)]
    return float(np.max(latency(archs)) * 1.1), float(np.min(accuracy(archs)))


def hypervolume_of(run: SearchRun, ref: tuple[float, float]) -> float:
    return hypervolume_2d(run.front_points, ref, ("min", "max"))


class MBConvOperators:
    """Sampling, mutation and uniform crossover of MBConv architectures with the
    distributions of :meth:`MBConvSpace.sample` / ``mutate`` / ``crossover``
    (every gene uniform over its choices; each gene resampled with probability
    ``prob``; each gene from either parent), drawn with one vectorised call per
    architecture instead of one per gene and without re-validating parents the
    search already holds: 5-10x faster, which is what lets once-for-all's 500
    generations of 100 run in seconds. Inactive slots get real values, as the
    space's operators give them."""

    def __init__(self, space: MBConvSpace):
        self.space = space
        self.res = np.asarray(space.resolutions)
        self.depths = np.asarray(space.depth_choices)
        self.kernels = np.asarray(space.kernel_choices)
        self.expands = np.asarray(space.expand_choices)
        self.n_stages, self.n_slots = space.n_stages, space.n_slots
        self.n_genes = 1 + self.n_stages + 2 * self.n_slots
        self._r_index = {int(v): i for i, v in enumerate(self.res)}
        self._d_index = {int(v): i for i, v in enumerate(self.depths)}
        self._k_index = {int(v): i for i, v in enumerate(self.kernels)}
        self._e_index = {int(v): i for i, v in enumerate(self.expands)}
        self._sizes = np.asarray([len(self.res)] + [len(self.depths)] * self.n_stages
                                 + [len(self.kernels)] * self.n_slots + [len(self.expands)] * self.n_slots)

    def _arch(self, g: np.ndarray) -> dict[str, Any]:
        s, n = self.n_stages, self.n_slots
        return {"resolution": int(self.res[g[0]]), "depths": self.depths[g[1:1 + s]].tolist(),
                "kernels": self.kernels[g[1 + s:1 + s + n]].tolist(),
                "expands": self.expands[g[1 + s + n:]].tolist()}

    def _genes(self, arch: dict[str, Any]) -> np.ndarray:
        """Choice indices of every gene (a 0 / None value of an inactive slot -> index -1)."""
        ki, ei = self._k_index, self._e_index
        return np.asarray([self._r_index[arch["resolution"]]] + [self._d_index[d] for d in arch["depths"]]
                          + [ki.get(v, -1) for v in arch["kernels"]] + [ei.get(v, -1) for v in arch["expands"]])

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self._arch((rng.random(self.n_genes) * self._sizes).astype(np.int64))

    def mutate(self, arch: dict[str, Any], rng: np.random.Generator, prob: float = 0.1) -> dict[str, Any]:
        g = self._genes(arch)
        fresh = (rng.random(self.n_genes) * self._sizes).astype(np.int64)
        flip = (rng.random(self.n_genes) < prob) | (g < 0)
        return self._arch(np.where(flip, fresh, g))

    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        ga, gb = self._genes(a), self._genes(b)
        child = np.where(rng.random(self.n_genes) < 0.5, ga, gb)
        fresh = (rng.random(self.n_genes) * self._sizes).astype(np.int64)
        return self._arch(np.where(child < 0, fresh, child))


def _parts(space: MBConvSpace):
    ops = MBConvOperators(space)
    return ops.sample, ops.mutate, ops.crossover


def constrained_search(space: MBConvSpace, accuracy: Scorer, latency: Scorer, *, limit_ms: float,
                       settings: EvolutionSettings, rng: np.random.Generator, random_rng: np.random.Generator,
                       ref: tuple[float, float] | None = None, on_generation: OnGeneration | None = None
                       ) -> tuple[SearchRun, SearchRun]:
    """Maximise predicted accuracy under ``latency <= limit_ms`` by evolution,
    and by random search with the same number of evaluations."""
    feasible = lambda archs: latency(archs) <= limit_ms  # noqa: E731
    sample, mutate, crossover = _parts(space)
    evo = EvolutionSearch(sample=sample, mutate=mutate, crossover=crossover, rng=rng, feasible=feasible,
                          settings=settings)
    rand = RandomSearch(sample=sample, rng=random_rng, feasible=feasible)
    er, rr = SearchRun(), SearchRun()
    for gen in range(settings.generations):
        archs = evo.ask()
        acc, lat = accuracy(archs), latency(archs)
        evo.tell(archs, acc)
        er.add(archs, acc, lat)
        er.best_fitness.append(evo.best_fitness)
        rand.batch_size = len(archs)
        rarchs = rand.ask()
        racc, rlat = accuracy(rarchs), latency(rarchs)
        rand.tell(rarchs, racc)
        rr.add(rarchs, racc, rlat)
        rr.best_fitness.append(rand.best_fitness)
        if ref is not None:
            er.hypervolume.append(hypervolume_of(er, ref))
            rr.hypervolume.append(hypervolume_of(rr, ref))
        if on_generation is not None:
            on_generation(gen, er, rr)
    return er, rr


def front_search(space: MBConvSpace, accuracy: Scorer, latency: Scorer, *, population: int, generations: int,
                 mutate_prob: float, rng: np.random.Generator, random_rng: np.random.Generator,
                 ref: tuple[float, float] | None = None, limit_ms: float | None = None,
                 on_generation: OnGeneration | None = None) -> tuple[SearchRun, SearchRun]:
    """NSGA-II on (latency, -accuracy) and random search at equal evaluations."""
    feasible = (lambda archs: latency(archs) <= limit_ms) if limit_ms else None  # noqa: E731
    sample, mutate, crossover = _parts(space)
    nsga = NSGA2Search(sample=sample, mutate=mutate, crossover=crossover, rng=rng, feasible=feasible,
                       population_size=population, mutate_prob=mutate_prob)
    rand = RandomSearch(sample=sample, rng=random_rng, feasible=feasible)
    er, rr = SearchRun(), SearchRun()
    for gen in range(generations):
        archs = nsga.ask()
        acc, lat = accuracy(archs), latency(archs)
        nsga.tell(archs, np.stack([lat, -acc], 1))
        er.add(archs, acc, lat)
        er.best_fitness.append(max(er.acc))
        rand.batch_size = len(archs)
        rarchs = rand.ask()
        racc, rlat = accuracy(rarchs), latency(rarchs)
        rand.tell(rarchs, racc)
        rr.add(rarchs, racc, rlat)
        rr.best_fitness.append(max(rr.acc))
        if ref is not None:
            er.hypervolume.append(hypervolume_of(er, ref))
            rr.hypervolume.append(hypervolume_of(rr, ref))
        if on_generation is not None:
            on_generation(gen, er, rr)
    return er, rr


def compare_constrained(er: SearchRun, rr: SearchRun) -> dict[str, float | int | None]:
    """Evolution against random search at equal evaluations, for a constrained
    (single-objective) search: the best fitness each found, the gap, and how
    many evaluations evolution needed to match random search's final best
    (``evaluation_speedup`` = random search's evaluations / those)."""
    best_e, best_r = er.best_fitness[-1], rr.best_fitness[-1]
    reach = er.evaluations_to_reach(best_r) if np.isfinite(best_r) else None
    return {"evolution_best_predicted": best_e, "random_best_predicted": best_r,
            "predicted_accuracy_gap": best_e - best_r,
            "evaluations_to_match_random": reach,
            "evaluation_speedup": rr.evaluations[-1] / reach if reach else None}
