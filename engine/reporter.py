"""The reporter a technique talks to while it runs.

A technique calls ``progress``, ``candidate``, ``series``, ``artifact`` and
``output`` (a typed result, see :mod:`engine.outputs`) as it goes; each call
may raise :class:`Cancelled`, which ``run`` lets propagate.
Implementations: :class:`MemoryReporter` (tests, notebooks),
``engine.cli_reporter.DirectoryReporter`` (the CLI) and ``webapp.reporting.DbReporter``.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .outputs import OUTPUT_TYPES, Output

__all__ = ["Cancelled", "Reporter", "MemoryReporter", "Summary", "ARTIFACT_KINDS", "clean_metrics"]

ARTIFACT_KINDS = ("png", "gif", "mp4", "onnx", "json", "pt", "safetensors", "csv", "txt", "npy")


class Cancelled(Exception):
    """The user cancelled the run; a technique lets this propagate."""


@dataclass
class Summary:
    """What ``run`` returns: a one-line message and headline figures."""

    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


def clean_metrics(metrics: dict[str, Any], nested: bool = False) -> dict[str, Any]:
    """JSON-safe metrics: numbers become floats/ints, NaN/inf become None,
    anything else its text. With ``nested`` (a run's summary) lists and dicts
    -- a technique's tables, such as HAQ's ``cross_hardware`` or HAT's
    ``hat_cross`` rows -- are kept, cleaned the same way inside, down to
    ``_MAX_DEPTH`` levels; a candidate's metrics stay flat."""
    return {str(k): _clean_value(v, 0 if nested else _MAX_DEPTH) for k, v in metrics.items()}


_MAX_DEPTH = 8


def _clean_value(v: Any, depth: int) -> Any:
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return v if (isinstance(v, int) or math.isfinite(v)) else None
    if depth < _MAX_DEPTH and isinstance(v, (list, tuple)):
        return [_clean_value(x, depth + 1) for x in v]
    if depth < _MAX_DEPTH and isinstance(v, dict):
        return {str(k): _clean_value(x, depth + 1) for k, x in v.items()}
    return str(v)


class Reporter:
    """Base reporter. Subclasses override the ``_on_*`` hooks and ``is_cancelled``.

    ``workdir`` is a folder the technique may write artifact files into before
    calling :meth:`artifact`.
    """

    def __init__(self, workdir: str | Path | None = None):
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="frontier-"))
        self.workdir.mkdir(parents=True, exist_ok=True)

    # -- the contract -------------------------------------------------
    def progress(self, fraction: float, message: str = "") -> None:
        self._raise_if_cancelled()
        fraction = 0.0 if not math.isfinite(fraction) else min(1.0, max(0.0, float(fraction)))
        self._on_progress(fraction, str(message)[:500])

    def candidate(self, architecture: dict[str, Any], metrics: dict[str, Any]) -> int:
        """Report one design point; returns its index (0, 1, 2 … in report order),
        which :meth:`artifact` accepts to attach files to this candidate."""
        self._raise_if_cancelled()
        self._on_candidate(dict(architecture), clean_metrics(metrics))
        self._n_candidates = getattr(self, "_n_candidates", 0) + 1
        return self._n_candidates - 1

    def series(self, name: str, step: float, value: float) -> None:
        self._raise_if_cancelled()
        value = float(value)
        if not math.isfinite(value):
            return
        self._on_series(str(name), float(step), value)

    def artifact(self, kind: str, path: str | Path, caption: str = "", group: str = "",
                 candidate: int | None = None) -> None:
        """Hand over a file. Artifacts sharing a ``group`` (e.g. "snapshots")
        are shown together, as a slider when they are images; ``candidate``
        (an index returned by :meth:`candidate`) attaches it to that candidate."""
        self._raise_if_cancelled()
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(path)
        if candidate is not None and not (0 <= candidate < getattr(self, "_n_candidates", 0)):
            raise ValueError(f"no candidate with index {candidate}")
        self._on_artifact(kind, path, str(caption)[:300], str(group)[:60], candidate)

    def output(self, obj: Output) -> None:
        """Hand over a typed result (:mod:`engine.outputs`), e.g. the latency
        model a run built; its files must exist."""
        self._raise_if_cancelled()
        if not isinstance(obj, OUTPUT_TYPES):
            raise TypeError(f"not an engine output: {type(obj).__name__}")
        for path in obj.files().values():
            if not path.is_file():
                raise FileNotFoundError(path)
        self._on_output(obj)

    # -- hooks ----------------------------------------------------------
    def is_cancelled(self) -> bool:
        return False

    def _raise_if_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled("cancelled by the user")

    def _on_progress(self, fraction: float, message: str) -> None: ...
    def _on_candidate(self, architecture: dict, metrics: dict) -> None: ...
    def _on_series(self, name: str, step: float, value: float) -> None: ...
    def _on_artifact(self, kind: str, path: Path, caption: str, group: str, candidate: int | None) -> None: ...
    def _on_output(self, obj: Output) -> None: ...


class MemoryReporter(Reporter):
    """Keeps everything in lists; ``cancel_after`` cancels after N calls (tests)."""

    def __init__(self, workdir: str | Path | None = None, *, cancel_after: int | None = None):
        super().__init__(workdir)
        self.progresses: list[tuple[float, str]] = []
        self.candidates: list[tuple[dict, dict]] = []
        self.points: list[tuple[str, float, float]] = []
        self.artifacts: list[tuple[str, Path, str, str, int | None]] = []
        self.outputs: list[Output] = []
        self.cancel_after = cancel_after
        self.calls = 0

    def is_cancelled(self) -> bool:
        self.calls += 1
        return self.cancel_after is not None and self.calls > self.cancel_after

    def _on_progress(self, fraction, message):
        self.progresses.append((fraction, message))

    def _on_candidate(self, architecture, metrics):
        self.candidates.append((architecture, metrics))

    def _on_series(self, name, step, value):
        self.points.append((name, step, value))

    def _on_artifact(self, kind, path, caption, group, candidate):
        self.artifacts.append((kind, path, caption, group, candidate))

    def _on_output(self, obj):
        self.outputs.append(obj)
