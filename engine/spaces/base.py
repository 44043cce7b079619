"""The interface every search space offers: sample, mutate, crossover, encode,
build (a static module), validate, and the distinct op configurations a
latency lookup table needs (``ops``)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from torch import nn

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
    build and run it on its own (``input_shape`` includes the batch of 1)."""

    key: str
    kind: str
    input_shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class SearchSpace(ABC):
    """A design space of architectures given as JSON-serialisable dicts."""

    name: str = ""
    title: str = ""

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
    def build(self, arch: dict[str, Any], num_classes: int = 10, in_channels: int = 3) -> nn.Module: ...

    @abstractmethod
    def validate(self, arch: dict[str, Any]) -> dict[str, Any]:
        """Return a normalised copy of ``arch`` or raise :class:`ArchError`."""

    @abstractmethod
    def input_shape(self, arch: dict[str, Any], in_channels: int = 3) -> tuple[int, ...]:
        """The input (batch of 1) the architecture is measured at."""

    @abstractmethod
    def ops(self, arch: dict[str, Any], num_classes: int = 10, in_channels: int = 3) -> list[OpSpec]: ...

    @abstractmethod
    def all_ops(self, num_classes: int = 10, in_channels: int = 3) -> list[OpSpec]:
        """Every distinct op configuration any architecture of the space uses."""

    @abstractmethod
    def op_module(self, op: OpSpec) -> nn.Module:
        """A static module computing ``op`` alone (for lookup-table measurement)."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The space's own parameters (JSON), enough to rebuild it with ``type(space)(**params)``."""
