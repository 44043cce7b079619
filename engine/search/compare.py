"""A search beside random search at equal evaluations, with the same scorers.

Every generation each search is asked for architectures (random search for as
many as the search gave), all scorers are applied, each search is told the
objectives it declared, and the run records the *fitness* (maximised) and the
*cost* (minimised) of every evaluation, the best fitness and -- given a
reference point -- the hypervolume of the (cost, fitness) front so far::

    evo = EvolutionSearch(space, rng=rng, directions={"accuracy": "max"}, feasible=...)
    rand = RandomSearch(space, rng=rng2, directions={"accuracy": "max"}, feasible=...)
    er, rr = compare_with_random(evo, rand, {"accuracy": acc, "latency_ms": lat}, fitness="accuracy",
                                 cost="latency_ms", generations=40, ref=(20.0, 0.5))
    comparison(er, rr)   # best each, gap, evaluations to match, hypervolume ratio

:func:`run_search` is the same loop for one search (stopping after a number
of generations or when ``stop(run)`` says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._types import Arch
from .base import Searcher
from .pareto import front_2d, hypervolume_2d, non_dominated_sort

__all__ = ["Scorer", "SearchRun", "OnGeneration", "run_search", "compare_with_random", "comparison"]

#: archs -> one value per architecture (accuracy from a predictor, latency in ms, ...)
Scorer = Callable[[Sequence[Arch]], np.ndarray]


@dataclass
class SearchRun:
    """Everything one search evaluated: architectures, fitness (maximised) and
    cost (minimised) per evaluation, and curves per generation."""

    archs: list[Arch] = field(default_factory=list)
    fitness: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    #: best fitness so far, after each generation
    best_fitness: list[float] = field(default_factory=list)
    #: hypervolume of the (cost min, fitness max) front so far, after each generation (given a reference)
    hypervolume: list[float] = field(default_factory=list)
    #: the running non-dominated set as (cost, fitness) points
    front_points: list[tuple[float, float]] = field(default_factory=list)
    #: evaluations so far, after each generation
    evaluations: list[int] = field(default_factory=list)

    def add(self, archs: Sequence[Arch], fitness: np.ndarray, cost: np.ndarray) -> None:
        """Record one generation's evaluations (``best_fitness`` is the caller's)."""
        self.archs.extend(archs)
        self.fitness.extend(float(a) for a in fitness)
        self.cost.extend(float(v) for v in cost)
        pts = self.front_points + [(float(x), float(y)) for x, y in zip(cost, fitness)]
        self.front_points = [pts[i] for i in front_2d(pts, ("min", "max"))]
        self.evaluations.append(len(self.archs))

    def hypervolume_at(self, ref: tuple[float, float]) -> float:
        """Hypervolume of the (cost, fitness) front against ``ref`` = (cost, fitness)."""
        return hypervolume_2d(self.front_points, ref, ("min", "max"))

    def evaluations_to_reach(self, fitness: float) -> int | None:
        """Evaluations after which the best fitness first reached ``fitness``
        (None if it never did)."""
        for n, best in zip(self.evaluations, self.best_fitness):
            if best >= fitness:
                return n
        return None

    def front(self, key: Callable[[Arch], Any] | None = None) -> list[int]:
        """Indices of the non-dominated (cost min, fitness max) evaluations, by
        cost. With ``key`` (e.g. ``space.network_key``) a network met again
        (the search re-evaluates survivors' copies and genomes that differ
        only in unused genes) stands once, at its first evaluation."""
        if not self.archs:
            return []
        f = np.stack([np.asarray(self.cost), -np.asarray(self.fitness)], 1)
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
        return sorted(first, key=lambda i: self.cost[i])


#: called after each generation with (generation, the search's run, random search's run or None)
OnGeneration = Callable[[int, SearchRun, "SearchRun | None"], None]


def _generation(search: Searcher, run: SearchRun, scorers: Mapping[str, Scorer], fitness: str, cost: str,
                ref: tuple[float, float] | None, n: int | None = None) -> int:
    archs = search.ask(n)
    values = {name: np.asarray(score(archs), dtype=np.float64) for name, score in scorers.items()}
    search.tell(archs, np.stack([values[k] for k in search.directions], 1))
    run.add(archs, values[fitness], values[cost])
    best = max(run.best_fitness[-1] if run.best_fitness else -np.inf, float(np.max(values[fitness], initial=-np.inf)))
    run.best_fitness.append(best)
    if ref is not None:
        run.hypervolume.append(run.hypervolume_at(ref))
    return len(archs)


def _check(search: Searcher, scorers: Mapping[str, Scorer], fitness: str, cost: str) -> None:
    missing = [k for k in (*search.directions, fitness, cost) if k not in scorers]
    if missing:
        raise ValueError(f"no scorer for {missing}; scorers: {list(scorers)}")


def run_search(search: Searcher, scorers: Mapping[str, Scorer], *, fitness: str, cost: str, generations: int,
               ref: tuple[float, float] | None = None, stop: Callable[[SearchRun], bool] | None = None,
               on_generation: OnGeneration | None = None) -> SearchRun:
    """Run one search for up to ``generations`` (or until ``stop(run)``)."""
    _check(search, scorers, fitness, cost)
    run = SearchRun()
    for gen in range(generations):
        if stop is not None and stop(run):
            break
        _generation(search, run, scorers, fitness, cost, ref)
        if on_generation is not None:
            on_generation(gen, run, None)
    return run


def compare_with_random(search: Searcher, random: Searcher, scorers: Mapping[str, Scorer], *, fitness: str,
                        cost: str, generations: int, ref: tuple[float, float] | None = None,
                        on_generation: OnGeneration | None = None) -> tuple[SearchRun, SearchRun]:
    """``search`` and ``random`` (random search, or any baseline that lets the
    caller choose the batch size) side by side at equal evaluations."""
    _check(search, scorers, fitness, cost)
    _check(random, scorers, fitness, cost)
    er, rr = SearchRun(), SearchRun()
    for gen in range(generations):
        n = _generation(search, er, scorers, fitness, cost, ref)
        _generation(random, rr, scorers, fitness, cost, ref, n)
        if on_generation is not None:
            on_generation(gen, er, rr)
    return er, rr


def comparison(run: SearchRun, baseline: SearchRun) -> dict[str, float | int | None]:
    """A search against its baseline at equal evaluations: the best fitness
    each found, the gap, how many evaluations the search needed to match the
    baseline's final best (``evaluation_speedup`` = the baseline's evaluations
    / those), and the hypervolume ratio where both have one."""
    best_s, best_b = run.best_fitness[-1], baseline.best_fitness[-1]
    reach = run.evaluations_to_reach(best_b) if np.isfinite(best_b) else None
    hv = (run.hypervolume[-1] / baseline.hypervolume[-1]
          if run.hypervolume and baseline.hypervolume and baseline.hypervolume[-1] > 0 else None)
    return {"search_best": best_s, "random_best": best_b, "gap": best_s - best_b,
            "evaluations_to_match_random": reach,
            "evaluation_speedup": baseline.evaluations[-1] / reach if reach else None,
            "hypervolume_ratio": hv}
