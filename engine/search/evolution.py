"""Evolutionary search for the best architecture under a constraint (a ``Searcher``).

The loop follows the once-for-all evolution finder (Cai et al., 2020): a
population of feasible architectures; each generation keeps the best
``parent_ratio`` as parents, adds ``mutation_ratio`` of the population as
mutated parents and fills the rest with crossovers of two parents; a child that
breaks the constraint is drawn again. HAT (Wang et al., 2020) is the same loop
with population 125, 25 parents, 50 mutations and 50 crossovers.

The caller owns the loop, so fitness may come from a predictor, a super-net or
real training::

    search = EvolutionSearch(space, rng=np.random.default_rng(0), directions={"accuracy": "max"},
                             feasible=lambda archs: latency(archs) <= 20.0)
    for _ in range(generations):
        archs = search.ask()
        search.tell(archs, accuracy(archs))
    search.best_arch, search.best_fitness
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ._types import Arch, Feasible, Operators, crossover_batch, mutate_batch, sample_batch
from .base import ConstraintError, Searcher, draw_feasible, floats_from_json, floats_to_json

__all__ = ["EvolutionSearch", "EvolutionSettings", "OFA_SETTINGS", "HAT_SETTINGS"]


@dataclass(frozen=True)
class EvolutionSettings:
    population_size: int = 100
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutate_prob: float = 0.1
    generations: int = 500

    def counts(self) -> tuple[int, int, int]:
        """(parents, mutations, crossovers) per generation."""
        parents = max(1, int(round(self.population_size * self.parent_ratio)))
        mutations = int(round(self.population_size * self.mutation_ratio))
        mutations = min(mutations, self.population_size - parents)
        return parents, mutations, self.population_size - parents - mutations


#: once-for-all's evolution finder defaults.
OFA_SETTINGS = EvolutionSettings(100, 0.25, 0.5, 0.1, 500)
#: HAT's: 30 generations, population 125, 25 parents, 50 mutations, 50 crossovers, gene prob 0.3.
HAT_SETTINGS = EvolutionSettings(125, 0.2, 0.4, 0.3, 30)


class EvolutionSearch(Searcher):
    """Optimise one objective (``directions``, by default ``{"fitness": "max"}``)
    under a constraint. ``best_fitness`` and ``history`` are in the objective's
    own units (the lowest value for a "min" objective)."""

    def __init__(self, space: Operators, *, rng: np.random.Generator,
                 directions: Mapping[str, str] | None = None, feasible: Feasible | None = None,
                 settings: EvolutionSettings = OFA_SETTINGS, max_rounds: int = 50):
        super().__init__(space, rng=rng, directions=directions or {"fitness": "max"}, feasible=feasible,
                         max_rounds=max_rounds)
        if len(self.directions) != 1:
            raise ValueError("evolution optimises one objective; use NSGA2Search for several")
        if settings.population_size < 2:
            raise ValueError("population_size must be at least 2")
        self.settings = settings
        self._sign = 1.0 if next(iter(self.directions.values())) == "max" else -1.0
        self.population: list[Arch] = []
        #: the population's scores (higher is better: the objective times its sign), best first
        self.scores = np.empty(0)
        self.generation = 0
        self.best_arch: Arch | None = None
        self.best_fitness = -self._sign * np.inf
        #: best value seen after each generation
        self.history: list[float] = []

    def best(self) -> tuple[Arch, float] | None:
        return (self.best_arch, self.best_fitness) if self.best_arch is not None else None

    # -- Searcher -------------------------------------------------------------
    def _propose(self, n: int | None) -> list[Arch]:
        size = self.settings.population_size if not self.population else sum(self.settings.counts()[1:])
        if n is not None and n != size:
            raise ValueError(f"this generation has {size} architectures, not {n}")
        return self._initial() if not self.population else self._children()

    def _record(self, archs: list[Arch], values: np.ndarray) -> None:
        score = self._sign * values[:, 0]
        if self.population:
            parents, _, _ = self.settings.counts()
            pool = self.population[:parents] + archs
            pool_score = np.concatenate([self.scores[:parents], score])
        else:
            pool, pool_score = archs, score
        order = np.argsort(-pool_score, kind="stable")
        self.population = [pool[i] for i in order]
        self.scores = pool_score[order]
        if len(self.scores) and self.scores[0] > self._sign * self.best_fitness:
            self.best_fitness = float(self._sign * self.scores[0])
            self.best_arch = self.population[0]
        self.generation += 1
        self.history.append(self.best_fitness)

    def _state(self) -> dict[str, Any]:
        return {"population": self.population, "scores": floats_to_json(self.scores),
                "generation": self.generation, "best_arch": self.best_arch,
                "best_fitness": self.best_fitness if np.isfinite(self.best_fitness) else None,
                "history": floats_to_json(self.history)}

    def _load(self, state: Mapping[str, Any]) -> None:
        self.population = [dict(a) for a in state["population"]]
        self.scores = floats_from_json(state["scores"], -np.inf)
        self.generation = int(state["generation"])
        self.best_arch = dict(state["best_arch"]) if state["best_arch"] is not None else None
        bf = state["best_fitness"]
        self.best_fitness = float(bf) if bf is not None else -self._sign * np.inf
        self.history = floats_from_json(state["history"], -self._sign * np.inf).tolist()

    # -- breeding -------------------------------------------------------------
    def _initial(self) -> list[Arch]:
        n = self.settings.population_size
        out = draw_feasible(lambda k: sample_batch(self.space, self.rng, k), n, self.feasible,
                            max_rounds=self.max_rounds)
        if not out:
            raise ConstraintError("no architecture satisfying the constraint was found in "
                                  f"{self.max_rounds} rounds of sampling; loosen the constraint")
        while len(out) < n:  # a tight constraint: repeat the few feasible ones found
            out.append(out[int(self.rng.integers(len(out)))])
        return out

    def _children(self) -> list[Arch]:
        parents_n, n_mut, n_cross = self.settings.counts()
        parents = self.population[:parents_n]
        rng, prob = self.rng, self.settings.mutate_prob

        def mutants(k: int) -> list[Arch]:
            idx = rng.integers(len(parents), size=k)
            return mutate_batch(self.space, [parents[i] for i in idx], rng, prob)

        def crosses(k: int) -> list[Arch]:
            a = rng.integers(len(parents), size=k)
            b = rng.integers(len(parents), size=k)
            return crossover_batch(self.space, [parents[i] for i in a], [parents[j] for j in b], rng)

        out = draw_feasible(mutants, n_mut, self.feasible, max_rounds=self.max_rounds)
        out += draw_feasible(crosses, n_cross, self.feasible, max_rounds=self.max_rounds)
        # Parents are feasible: fall back to them if the constraint leaves too few children.
        while len(out) < n_mut + n_cross:
            out.append(parents[int(rng.integers(len(parents)))])
        return out
