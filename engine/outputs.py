"""Typed results a technique hands back with ``reporter.output(obj)``.

An artifact is a file to show or download; an output says what a file *is*,
so the dashboard and the CLI act on it (a latency model becomes its profile's
default) without guessing from file names.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

__all__ = ["LatencyModelOutput", "NetworkOutput", "NetworkLatencyOutput", "Output", "OUTPUT_TYPES"]


@dataclass(frozen=True)
class LatencyModelOutput:
    """A latency model built for the run's hardware profile: the lookup
    table's JSON file and the trained predictor's JSON file (files in the
    reporter's workdir, in the formats of ``engine.hardware``)."""

    kind: ClassVar[str] = "latency-model"
    lookup_table: Path
    predictor: Path

    def files(self) -> dict[str, Path]:
        """Each file of the output by field name."""
        return {f.name: Path(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class NetworkOutput:
    """A trained network (:mod:`engine.networks`): its ``network.json`` and
    ``weights.safetensors`` in one folder of the workdir, and the index of the
    candidate it is (or None). The dashboard keeps it as a ``Network``; the CLI
    copies the folder into the results' ``networks/``."""

    kind: ClassVar[str] = "network"
    meta: Path
    weights: Path
    candidate: int | None = None
    #: the run's result (e.g. the searched network, not a baseline): what a next step takes
    primary: bool = False

    def files(self) -> dict[str, Path]:
        return {"meta": Path(self.meta), "weights": Path(self.weights)}

    @property
    def folder(self) -> Path:
        return Path(self.meta).parent


@dataclass(frozen=True)
class NetworkLatencyOutput:
    """Latencies of a saved network (its ``id``) on the run's profile, one per
    source: ``[{"source": "measured", "latency_ms": 1.2, "spread_ms": 0.1}, …]``.
    The dashboard keeps them beside the network; no files."""

    kind: ClassVar[str] = "network-latency"
    network: str
    estimates: tuple[dict, ...]

    def files(self) -> dict[str, Path]:
        return {}


#: every output type a reporter accepts
OUTPUT_TYPES: tuple[type, ...] = (LatencyModelOutput, NetworkOutput, NetworkLatencyOutput)
Output = LatencyModelOutput | NetworkOutput | NetworkLatencyOutput
