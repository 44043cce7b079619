"""Random search: the baseline every search is compared with at equal evaluations."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._types import Arch, Feasible, Sampler
from .evolution import ConstraintError, draw_feasible

__all__ = ["RandomSearch"]


class RandomSearch:
    """``ask()`` draws ``batch_size`` feasible architectures; ``tell`` records a
    scalar fitness (maximised) or an objective vector (minimised) per architecture."""

    def __init__(self, *, sample: Sampler, rng: np.random.Generator, feasible: Feasible | None = None,
                 batch_size: int = 100, max_rounds: int = 50):
        self.sample, self.rng, self.feasible = sample, rng, feasible
        self.batch_size, self.max_rounds = batch_size, max_rounds
        self.archive: list[Arch] = []
        self.values: list[np.ndarray] = []
        self.history: list[float] = []
        self.best_arch: Arch | None = None
        self.best_fitness = -np.inf
        self.evaluations = 0

    def ask(self) -> list[Arch]:
        out = draw_feasible(lambda k: [self.sample(self.rng) for _ in range(k)], self.batch_size,
                            self.feasible, max_rounds=self.max_rounds)
        if not out:
            raise ConstraintError("no architecture satisfying the constraint was found; loosen it")
        return out

    def tell(self, archs: Sequence[Arch], values: np.ndarray | Sequence[float]) -> None:
        v = np.asarray(values, dtype=np.float64)
        if len(v) != len(archs):
            raise ValueError("one value per architecture")
        self.evaluations += len(archs)
        self.archive.extend(archs)
        self.values.extend(v)
        if v.ndim == 1 and len(v):
            i = int(np.argmax(v))
            if v[i] > self.best_fitness:
                self.best_fitness, self.best_arch = float(v[i]), archs[i]
            self.history.append(self.best_fitness)
