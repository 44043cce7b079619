"""Evolution and NSGA-II over an MBConv space with predictors, each beside
random search at equal evaluations (:mod:`engine.search.compare`), usable
without a reporter. Fitness is the predicted ``accuracy``, cost the
``latency_ms``."""
from __future__ import annotations

import numpy as np

from ..search import (EvolutionSearch, EvolutionSettings, NSGA2Search, OnGeneration, RandomSearch, Scorer,
                      SearchRun, compare_with_random, comparison)
from ..spaces.mbconv import MBConvSpace

__all__ = ["constrained_search", "front_search", "reference_point", "compare_constrained"]

_MAX = {"accuracy": "max"}


def reference_point(space: MBConvSpace, accuracy: Scorer, latency: Scorer, rng: np.random.Generator,
                    n: int = 1000) -> tuple[float, float]:
    """A hypervolume reference (latency, accuracy) worse than nearly all of the
    space: 1.1 x the largest latency and the lowest accuracy of ``n`` samples."""
    archs = space.sample_many(rng, n)
    return float(np.max(latency(archs)) * 1.1), float(np.min(accuracy(archs)))


def constrained_search(space: MBConvSpace, accuracy: Scorer, latency: Scorer, *, limit_ms: float,
                       settings: EvolutionSettings, rng: np.random.Generator, random_rng: np.random.Generator,
                       ref: tuple[float, float] | None = None, on_generation: OnGeneration | None = None
                       ) -> tuple[SearchRun, SearchRun]:
    """Maximise predicted accuracy under ``latency <= limit_ms`` by evolution,
    and by random search with the same number of evaluations."""
    feasible = lambda archs: latency(archs) <= limit_ms  # noqa: E731
    evo = EvolutionSearch(space, rng=rng, directions=_MAX, feasible=feasible, settings=settings)
    rand = RandomSearch(space, rng=random_rng, directions=_MAX, feasible=feasible)
    return compare_with_random(evo, rand, {"accuracy": accuracy, "latency_ms": latency}, fitness="accuracy",
                               cost="latency_ms", generations=settings.generations, ref=ref,
                               on_generation=on_generation)


def front_search(space: MBConvSpace, accuracy: Scorer, latency: Scorer, *, population: int, generations: int,
                 mutate_prob: float, rng: np.random.Generator, random_rng: np.random.Generator,
                 ref: tuple[float, float] | None = None, limit_ms: float | None = None,
                 on_generation: OnGeneration | None = None) -> tuple[SearchRun, SearchRun]:
    """NSGA-II on (latency min, accuracy max) and random search at equal evaluations."""
    feasible = (lambda archs: latency(archs) <= limit_ms) if limit_ms else None  # noqa: E731
    nsga = NSGA2Search(space, rng=rng, directions={"latency_ms": "min", "accuracy": "max"}, feasible=feasible,
                       population_size=population, mutate_prob=mutate_prob)
    rand = RandomSearch(space, rng=random_rng, directions=_MAX, feasible=feasible)
    return compare_with_random(nsga, rand, {"accuracy": accuracy, "latency_ms": latency}, fitness="accuracy",
                               cost="latency_ms", generations=generations, ref=ref, on_generation=on_generation)


def compare_constrained(er: SearchRun, rr: SearchRun) -> dict[str, float | int | None]:
    """Evolution against random search at equal evaluations, for a constrained
    (single-objective) search, in the evolution technique's terms: the best
    predicted accuracy each found, the gap, and how many evaluations evolution
    needed to match random search's final best (``evaluation_speedup`` =
    random search's evaluations / those)."""
    c = comparison(er, rr)
    return {"evolution_best_predicted": c["search_best"], "random_best_predicted": c["random_best"],
            "predicted_accuracy_gap": c["gap"], "evaluations_to_match_random": c["evaluations_to_match_random"],
            "evaluation_speedup": c["evaluation_speedup"]}
