"""The ``Searcher`` base every search implements (evolution, NSGA-II, random).

The caller owns the loop (Optuna's ask/tell)::

    search = NSGA2Search(space, rng=np.random.default_rng(0),
                         directions={"latency_ms": "min", "accuracy": "max"})
    for _ in range(generations):
        archs = search.ask()
        search.tell(archs, [{"latency_ms": l, "accuracy": a} for l, a in ...])  # or an (n, 2) array
    json.dumps(search.state_dict())  # checkpoint; load_state_dict() resumes identically

Directions are declared once, at construction; ``tell`` takes each
objective's own value (no negating). The state is JSON (the generator's state
included), so a search saved between generations and loaded into a searcher
built with the same space, constraint and settings continues exactly as the
uninterrupted one would.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ._types import Arch, Feasible, Operators
from .pareto import as_minimised, front_of_values

__all__ = ["Searcher", "ConstraintError", "Objectives", "draw_feasible", "floats_to_json", "floats_from_json"]

#: one dict {objective: value} per architecture, or an (n, m) array in the order of ``directions``
#: (an (n,) array when there is one objective)
Objectives = Sequence[Mapping[str, float]] | np.ndarray | Sequence[float]


class ConstraintError(RuntimeError):
    """No architecture satisfying the constraint could be drawn."""


def draw_feasible(make: Callable[[int], list[Arch]], n: int, feasible: Feasible | None, *,
                  max_rounds: int = 50) -> list[Arch]:
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


def floats_to_json(values: np.ndarray | Sequence[float]) -> list[float | None]:
    """Floats for JSON: a non-finite value becomes None."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel()]


def floats_from_json(values: Sequence[float | None], missing: float = np.inf) -> np.ndarray:
    return np.array([missing if v is None else v for v in values], dtype=np.float64)


class Searcher(ABC):
    """A search over a space's architectures with declared objective directions."""

    def __init__(self, space: Operators, *, rng: np.random.Generator, directions: Mapping[str, str],
                 feasible: Feasible | None = None, max_rounds: int = 50):
        if not directions:
            raise ValueError("declare at least one objective direction")
        bad = {k: d for k, d in directions.items() if d not in ("min", "max")}
        if bad:
            raise ValueError(f"a direction is 'min' or 'max': {bad}")
        self.space, self.rng, self.feasible, self.max_rounds = space, rng, feasible, max_rounds
        #: objective -> "min" / "max", declared once
        self.directions: dict[str, str] = dict(directions)
        self.evaluations = 0
        self._pending: list[Arch] | None = None

    # -- the ask/tell loop -----------------------------------------------------
    def ask(self, n: int | None = None) -> list[Arch]:
        """Architectures to evaluate next (``n`` of them where the search lets
        the caller choose; a search with a fixed generation size refuses another)."""
        if self._pending is not None:
            raise RuntimeError("tell() the previous batch before asking again")
        batch = self._propose(n)
        self._pending = batch
        return list(batch)

    def tell(self, archs: Sequence[Arch], objectives: Objectives) -> None:
        """Report the objective values of the architectures from the last ``ask()``."""
        if self._pending is None:
            raise RuntimeError("ask() before tell()")
        values = self.objective_matrix(archs, objectives)
        self._pending = None
        self.evaluations += len(archs)
        self._record(list(archs), values)

    def objective_matrix(self, archs: Sequence[Arch], objectives: Objectives) -> np.ndarray:
        """``objectives`` as an (n, m) float array in the order of ``directions``."""
        names = list(self.directions)
        if len(objectives) and isinstance(objectives[0], Mapping):
            values = np.array([[float(o[k]) for k in names] for o in objectives], dtype=np.float64)
        else:
            values = np.asarray(objectives, dtype=np.float64)
            if values.ndim == 1 and len(names) == 1:
                values = values[:, None]
        if values.size == 0:
            values = values.reshape(0, len(names))
        if values.ndim != 2 or values.shape != (len(archs), len(names)):
            raise ValueError(f"objectives must give {names} for each of the {len(archs)} architectures")
        return values

    def minimised(self, values: np.ndarray) -> np.ndarray:
        """Objective values with every "max" column negated."""
        return as_minimised(values, list(self.directions.values()))

    # -- results -----------------------------------------------------------------
    def best(self) -> tuple[Arch, float] | None:
        """The best architecture and its value (single-objective searches)."""
        raise NotImplementedError(f"{type(self).__name__} has no single best; see front()")

    def front(self) -> tuple[list[Arch], np.ndarray]:
        """The non-dominated architectures among everything evaluated and their
        objective values (n, m), by :func:`engine.search.pareto.front_of_values`."""
        archs, values = self._evaluated()
        if not archs:
            return [], np.empty((0, len(self.directions)))
        idx = front_of_values(values, list(self.directions.values()))
        return [archs[i] for i in idx], values[idx]

    def _evaluated(self) -> tuple[list[Arch], np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} keeps no archive of evaluations")

    # -- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The search's state as JSON-serialisable data (generator state included)."""
        return {"searcher": type(self).__name__, "directions": dict(self.directions),
                "rng": self.rng.bit_generator.state, "evaluations": self.evaluations,
                "pending": self._pending, **self._state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from ``state_dict()`` of a searcher built with the same parts."""
        if state.get("searcher") != type(self).__name__:
            raise ValueError(f"a {state.get('searcher')} state cannot be loaded into {type(self).__name__}")
        if dict(state["directions"]) != self.directions:
            raise ValueError(f"the state's directions {state['directions']} are not {self.directions}")
        self.rng.bit_generator.state = state["rng"]
        self.evaluations = int(state["evaluations"])
        self._pending = [dict(a) for a in state["pending"]] if state["pending"] is not None else None
        self._load(state)

    # -- what each search adds ------------------------------------------------------
    @abstractmethod
    def _propose(self, n: int | None) -> list[Arch]: ...

    @abstractmethod
    def _record(self, archs: list[Arch], values: np.ndarray) -> None: ...

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load(self, state: Mapping[str, Any]) -> None: ...
