"""Typed results a technique hands back with ``reporter.output(obj)``.

An artifact is a file to show or download; an output says what a file *is*,
so the dashboard and the CLI act on it (a latency model becomes its profile's
default) without guessing from file names.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

__all__ = ["LatencyModelOutput", "Output", "OUTPUT_TYPES"]


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


#: every output type a reporter accepts
OUTPUT_TYPES: tuple[type, ...] = (LatencyModelOutput,)
Output = LatencyModelOutput
