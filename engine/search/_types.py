"""The parts a search is assembled from, passed in by the caller."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Arch", "Sampler", "Mutator", "Crossover", "Feasible", "arch_key"]

#: An architecture: any JSON-serialisable dict (the MBConv space uses
#: ``{"resolution", "depths", "kernels", "expands"}``).
Arch = dict[str, Any]
#: sample(rng) -> a random architecture
Sampler = Callable[[np.random.Generator], Arch]
#: mutate(arch, rng, gene_probability) -> a new architecture
Mutator = Callable[[Arch, np.random.Generator, float], Arch]
#: crossover(a, b, rng) -> a child taking each gene from a or b
Crossover = Callable[[Arch, Arch, np.random.Generator], Arch]
#: feasible(archs) -> boolean array: which architectures satisfy the constraint
Feasible = Callable[[Sequence[Arch]], np.ndarray]


def arch_key(arch: Arch) -> tuple:
    """A hashable key of an architecture (lists become tuples), for de-duplication."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(arch.items()))
