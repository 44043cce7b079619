"""The interface every search space offers: sample, mutate, crossover, encode,
build (a static module for a problem), validate, and the distinct op
configurations a latency lookup table needs (``ops``).

Whatever depends on what the model eats and emits takes a
:class:`engine.problems.Problem`: ``build(arch, problem)``, ``ops(arch, problem)``,
``all_ops(problem)``, ``example_inputs(arch, problem)``. A space refuses a
problem it cannot serve (``check_problem``) with a clear ValueError."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from ..problems import InputSpec, Problem, make_inputs

__all__ = ["SearchSpace", "OpSpec", "ArchError", "describe_pairs"]


def describe_pairs(arch: dict[str, Any], max_items: int = 12) -> str:
    """``key=value`` pairs, a list shown by its first ``max_items`` values."""
    parts = []
    for k, v in arch.items():
        if isinstance(v, list):
            v = "[" + ",".join(map(str, v[:max_items])) + (",…" if len(v) > max_items else "") + "]"
        parts.append(f"{k}={v}")
    return " ".join(parts)


class ArchError(ValueError):
    """An architecture dict that does not belong to the space; the message says why."""


@dataclass(frozen=True)
class OpSpec:
    """One distinct op configuration: a lookup-table key and what is needed to
    build and run it on its own (``inputs``: its input tensors as data, batch of 1;
    ``example_inputs()`` makes them, seeded)."""

    key: str
    kind: str
    inputs: tuple[InputSpec, ...]
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def example_inputs(self, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
        return make_inputs(self.inputs, seed=seed)


class SearchSpace(ABC):
    """A design space of architectures given as JSON-serialisable dicts."""

    name: str = ""
    title: str = ""
    #: the problem kinds the space can build networks for
    problem_kinds: tuple[str, ...] = ()

    def check_problem(self, problem: Problem) -> Problem:
        """``problem`` if the space serves it, else a ValueError saying which it serves."""
        if not isinstance(problem, Problem):
            raise ValueError(f"the {self.name} space needs a Problem (engine.problems), not {type(problem).__name__}")
        if problem.kind not in self.problem_kinds:
            raise ValueError(f"the {self.name} space builds networks for {' / '.join(self.problem_kinds)}, "
                             f"not {problem.kind}")
        return problem

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> dict[str, Any]: ...

    @abstractmethod
    def mutate(self, arch: dict[str, Any], rng: np.random.Generator, prob: float = 0.1) -> dict[str, Any]: ...

    @abstractmethod
    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]: ...

    @abstractmethod
    def encode(self, arch: dict[str, Any]) -> np.ndarray: ...

    @property
    @abstractmethod
    def encoding_size(self) -> int: ...

    def encode_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        rows = [self.encode(a) for a in archs]
        return np.stack(rows) if rows else np.zeros((0, self.encoding_size), dtype=np.float32)

    def network_key(self, arch: dict[str, Any]) -> Any:
        """A hashable key of the network ``arch`` builds: genomes that differ
        only in genes the network does not use (slots that depth skips) share
        it. By default the encoding, which leaves such genes out."""
        return self.encode(arch).tobytes()

    def sample_distinct(self, rng: np.random.Generator, n: int, max_tries: int = 100) -> list[dict[str, Any]]:
        """Up to ``n`` random architectures that build distinct networks."""
        seen, out = set(), []
        for _ in range(n * max_tries):
            a = self.sample(rng)
            key = self.network_key(a)
            if key not in seen:
                seen.add(key)
                out.append(a)
                if len(out) == n:
                    break
        return out

    def structure(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The architecture as a candidate reports it (a space may add per-block
        details); by default the architecture and the space's name."""
        return {**arch, "space": self.name}

    def describe(self, arch: dict[str, Any]) -> str:
        """The architecture as one line of text (the one renderer: CLI, dashboard,
        summaries); by default its key=value pairs."""
        return describe_pairs(arch)

    @abstractmethod
    def build(self, arch: dict[str, Any], problem: Problem) -> nn.Module: ...

    @abstractmethod
    def validate(self, arch: dict[str, Any]) -> dict[str, Any]:
        """Return a normalised copy of ``arch`` or raise :class:`ArchError`."""

    @abstractmethod
    def input_specs(self, arch: dict[str, Any], problem: Problem, batch: int = 1) -> tuple[InputSpec, ...]:
        """The inputs (as data) the architecture's network takes for ``problem``."""

    def example_inputs(self, arch: dict[str, Any], problem: Problem, *, batch: int = 1,
                       seed: int = 0) -> tuple[torch.Tensor, ...]:
        """Seeded example inputs of the architecture's network: ``net(*inputs)``."""
        return make_inputs(self.input_specs(arch, problem, batch), seed=seed)

    @abstractmethod
    def ops(self, arch: dict[str, Any], problem: Problem) -> list[OpSpec]: ...

    def op_keys(self, arch: dict[str, Any], problem: Problem) -> list[str]:
        """The lookup-table keys of ``arch``'s ops (spaces override it with a fast path)."""
        return [op.key for op in self.ops(arch, problem)]

    @abstractmethod
    def all_ops(self, problem: Problem) -> list[OpSpec]:
        """Every distinct op configuration any architecture of the space uses."""

    @abstractmethod
    def op_module(self, op: OpSpec) -> nn.Module:
        """A static module computing ``op`` alone (for lookup-table measurement)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The space's own parameters (JSON), enough to rebuild it with ``type(space)(**params)``."""
