"""What a search is assembled from: the space's operators (passed in with the
space), a constraint, and the architecture type."""
from __future__ import annotations

import json
from typing import Any, Callable, Protocol, Sequence

import numpy as np

__all__ = ["Arch", "Feasible", "Operators", "arch_key", "sample_batch", "mutate_batch", "crossover_batch"]

#: An architecture: any JSON-serialisable dict (the MBConv space uses
#: ``{"resolution", "depths", "kernels", "expands"}``).
Arch = dict[str, Any]
#: feasible(archs) -> boolean array: which architectures satisfy the constraint
Feasible = Callable[[Sequence[Arch]], np.ndarray]


class Operators(Protocol):
    """The part of a search space a search uses. A space may also offer
    vectorised ``sample_many(rng, n)``, ``mutate_many(archs, rng, prob)`` and
    ``crossover_many(a, b, rng)`` (same distributions); searches use them
    where they exist."""

    def sample(self, rng: np.random.Generator) -> Arch: ...

    def mutate(self, arch: Arch, rng: np.random.Generator, prob: float = 0.1) -> Arch: ...

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch: ...


def sample_batch(space: Operators, rng: np.random.Generator, n: int) -> list[Arch]:
    many = getattr(space, "sample_many", None)
    return many(rng, n) if many is not None else [space.sample(rng) for _ in range(n)]


def mutate_batch(space: Operators, archs: Sequence[Arch], rng: np.random.Generator, prob: float) -> list[Arch]:
    if not archs:
        return []
    many = getattr(space, "mutate_many", None)
    return many(archs, rng, prob) if many is not None else [space.mutate(a, rng, prob) for a in archs]


def crossover_batch(space: Operators, a: Sequence[Arch], b: Sequence[Arch], rng: np.random.Generator) -> list[Arch]:
    if not a:
        return []
    many = getattr(space, "crossover_many", None)
    return many(a, b, rng) if many is not None else [space.crossover(x, y, rng) for x, y in zip(a, b)]


def arch_key(arch: Arch) -> str:
    """A hashable, JSON-serialisable key of an architecture (its canonical
    JSON), for de-duplication."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))
