"""Evolution, NSGA-II and random search over an MBConv space with predictors,
side by side at equal evaluations (usable without a reporter)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..pareto import front_2d, hypervolume_2d
from ..search import EvolutionSearch, EvolutionSettings, NSGA2Search, RandomSearch, non_dominated_sort
from ..spaces.mbconv import MBConvSpace

__all__ = ["Scorer", "SearchRun", "constrained_search", "front_search", "hypervolume_of", "reference_point"]

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

    def add(self, archs: Sequence[dict[str, Any]], acc: np.ndarray, lat: np.ndarray) -> None:
        self.archs.extend(archs)
        self.acc.extend(float(a) for a in acc)
        self.lat.extend(float(v) for v in lat)
        pts = self.front_points + [(float(x), float(y)) for x, y in zip(lat, acc)]
        self.front_points = [pts[i] for i in front_2d(pts, ("min", "max"))]

    def front(self) -> list[int]:
        """Indices of the non-dominated (latency min, accuracy max) points."""
        if not self.archs:
            return []
        f = np.stack([np.asarray(self.lat), -np.asarray(self.acc)], 1)
        first = non_dominated_sort(f)[0]
        return sorted(first.tolist(), key=lambda i: self.lat[i])


def reference_point(space: MBConvSpace, accuracy: Scorer, latency: Scorer, rng: np.random.Generator,
                    n: int = 1000) -> tuple[float, float]:
    """A hypervolume reference (latency, accuracy) worse than nearly all of the
    space: 1.1 x the largest latency and the lowest accuracy of ``n`` samples."""
    archs = [space.sample(rng) for _ in range(n)]
    return float(np.max(latency(archs)) * 1.1), float(np.min(accuracy(archs)))


def hypervolume_of(run: SearchRun, ref: tuple[float, float]) -> float:
    return hypervolume_2d(run.front_points, ref, ("min", "max"))


def _parts(space: MBConvSpace):
    return space.sample, space.mutate, space.crossover


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
