"""Evolutionary search for the best architecture under a constraint, with ask/tell.

The loop follows the once-for-all evolution finder (Cai et al., 2020): a
population of feasible architectures; each generation keeps the best
``parent_ratio`` as parents, adds ``mutation_ratio`` of the population as
mutated parents and fills the rest with crossovers of two parents; a child that
breaks the constraint is drawn again. HAT (Wang et al., 2020) is the same loop
with population 125, 25 parents, 50 mutations and 50 crossovers.

The caller owns the loop, so fitness may come from a predictor, a super-net or
real training::

    search = EvolutionSearch(sample=..., mutate=..., crossover=..., rng=np.random.default_rng(0),
                             feasible=lambda archs: latency(archs) <= 20.0)
    for _ in range(generations):
        archs = search.ask()
        search.tell(archs, accuracy(archs))
    search.best_arch, search.best_fitness
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._types import Arch, Crossover, Feasible, Mutator, Sampler

__all__ = ["EvolutionSearch", "EvolutionSettings", "OFA_SETTINGS", "HAT_SETTINGS", "ConstraintError",
           "draw_feasible"]


class ConstraintError(RuntimeError):
    """No architecture satisfying the constraint could be drawn."""


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


def draw_feasible(make: "callable", n: int, feasible: Feasible | None, *, max_rounds: int = 50) -> list[Arch]:
    """Call ``make(k)`` (returning k architectures) until ``n`` feasible ones are
    collected; each round redraws only the missing ones."""
    out: list[Arch] = []
    for _ in range(max_rounds):
        need = n - len(out)
        if need <= 0:
            break
        batch = make(max(need, 8) if feasible is not None else need)
        if feasible is not None:
            ok = np.asarray(feasible(batch), dtype=bool)
            batch = [a for a, good in zip(batch, ok) if good]
        out.extend(batch[:need])
    return out


class EvolutionSearch:
    """Maximise a fitness under a constraint. ``ask()`` returns architectures
    to evaluate, ``tell(archs, fitness)`` reports their fitness (higher is better)."""

    def __init__(self, *, sample: Sampler, mutate: Mutator, crossover: Crossover, rng: np.random.Generator,
                 feasible: Feasible | None = None, settings: EvolutionSettings = OFA_SETTINGS,
                 max_rounds: int = 50):
        if settings.population_size < 2:
            raise ValueError("population_size must be at least 2")
        self.sample, self.mutate, self.crossover = sample, mutate, crossover
        self.rng = rng
        self.feasible = feasible
        self.settings = settings
        self.max_rounds = max_rounds
        self.population: list[Arch] = []
        self.fitness = np.empty(0)
        self.generation = 0
        self.evaluations = 0
        self.best_arch: Arch | None = None
        self.best_fitness = -np.inf
        #: best fitness seen after each generation
        self.history: list[float] = []
        self._pending: list[Arch] | None = None

    # -- the ask/tell loop ------------------------------------------------
    def ask(self) -> list[Arch]:
        if self._pending is not None:
            raise RuntimeError("tell() the previous batch before asking again")
        if not self.population:
            batch = self._initial()
        else:
            batch = self._children()
        self._pending = batch
        return list(batch)

    def tell(self, archs: Sequence[Arch], fitness: Sequence[float]) -> None:
        if self._pending is None:
            raise RuntimeError("ask() before tell()")
        fit = np.asarray(fitness, dtype=np.float64)
        if len(archs) != len(fit):
            raise ValueError("one fitness per architecture")
        self._pending = None
        self.evaluations += len(archs)
        if self.population:
            parents, _, _ = self.settings.counts()
            pool = self.population[:parents] + list(archs)
            pool_fit = np.concatenate([self.fitness[:parents], fit])
        else:
            pool, pool_fit = list(archs), fit
        order = np.argsort(-pool_fit, kind="stable")
        self.population = [pool[i] for i in order]
        self.fitness = pool_fit[order]
        if len(self.fitness) and self.fitness[0] > self.best_fitness:
            self.best_fitness = float(self.fitness[0])
            self.best_arch = self.population[0]
        self.generation += 1
        self.history.append(self.best_fitness)

    # -- internals ----------------------------------------------------------
    def _initial(self) -> list[Arch]:
        n = self.settings.population_size
        out = draw_feasible(lambda k: [self.sample(self.rng) for _ in range(k)], n, self.feasible,
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
            return [self.mutate(parents[i], rng, prob) for i in idx]

        def crosses(k: int) -> list[Arch]:
            a = rng.integers(len(parents), size=k)
            b = rng.integers(len(parents), size=k)
            return [self.crossover(parents[i], parents[j], rng) for i, j in zip(a, b)]

        out = draw_feasible(mutants, n_mut, self.feasible, max_rounds=self.max_rounds)
        out += draw_feasible(crosses, n_cross, self.feasible, max_rounds=self.max_rounds)
        # Parents are feasible: fall back to them if the constraint leaves too few children.
        while len(out) < n_mut + n_cross:
            out.append(parents[int(rng.integers(len(parents)))])
        return out
