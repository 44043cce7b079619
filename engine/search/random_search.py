"""Random search (a ``Searcher``): the baseline every search is compared with at
equal evaluations."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ._types import Arch, Feasible, Operators, sample_batch
from .base import ConstraintError, Searcher, draw_feasible, floats_from_json, floats_to_json

__all__ = ["RandomSearch"]


class RandomSearch(Searcher):
    """``ask(n)`` draws ``n`` (default ``batch_size``) feasible architectures;
    ``tell`` records their objectives. With one objective ``best_arch`` /
    ``best_fitness`` / ``history`` follow the best value; with several,
    ``front()`` is the non-dominated set of everything drawn."""

    def __init__(self, space: Operators, *, rng: np.random.Generator,
                 directions: Mapping[str, str] | None = None, feasible: Feasible | None = None,
                 batch_size: int = 100, max_rounds: int = 50):
        super().__init__(space, rng=rng, directions=directions or {"fitness": "max"}, feasible=feasible,
                         max_rounds=max_rounds)
        self.batch_size = batch_size
        self._sign = 1.0 if next(iter(self.directions.values())) == "max" else -1.0
        self.archive: list[Arch] = []
        #: every evaluation's objective values, as told
        self.values: list[np.ndarray] = []
        self.history: list[float] = []
        self.best_arch: Arch | None = None
        self.best_fitness = -self._sign * np.inf

    def best(self) -> tuple[Arch, float] | None:
        if len(self.directions) != 1:
            return super().best()
        return (self.best_arch, self.best_fitness) if self.best_arch is not None else None

    def _propose(self, n: int | None) -> list[Arch]:
        out = draw_feasible(lambda k: sample_batch(self.space, self.rng, k), n or self.batch_size, self.feasible,
                            max_rounds=self.max_rounds)
        if not out:
            raise ConstraintError("no architecture satisfying the constraint was found; loosen it")
        return out

    def _record(self, archs: list[Arch], values: np.ndarray) -> None:
        self.archive.extend(archs)
        self.values.extend(values if values.shape[1] > 1 else values[:, 0])
        if values.shape[1] == 1 and len(values):
            score = self._sign * values[:, 0]
            i = int(np.argmax(score))
            if score[i] > self._sign * self.best_fitness:
                self.best_fitness, self.best_arch = float(values[i, 0]), archs[i]
            self.history.append(self.best_fitness)

    def _evaluated(self) -> tuple[list[Arch], np.ndarray]:
        return self.archive, np.asarray(self.values).reshape(len(self.archive), len(self.directions))

    def _state(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "archive": self.archive,
                "values": [np.asarray(v).tolist() for v in self.values], "history": floats_to_json(self.history),
                "best_arch": self.best_arch,
                "best_fitness": self.best_fitness if np.isfinite(self.best_fitness) else None}

    def _load(self, state: Mapping[str, Any]) -> None:
        self.batch_size = int(state["batch_size"])
        self.archive = [dict(a) for a in state["archive"]]
        self.values = [np.asarray(v, dtype=np.float64) if isinstance(v, list) else np.float64(v)
                       for v in state["values"]]
        self.history = floats_from_json(state["history"], -self._sign * np.inf).tolist()
        self.best_arch = dict(state["best_arch"]) if state["best_arch"] is not None else None
        bf = state["best_fitness"]
        self.best_fitness = float(bf) if bf is not None else -self._sign * np.inf
