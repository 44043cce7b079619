"""A per-op latency lookup table: the data and its JSON (ProxylessNAS / once-for-all style).

Each distinct op configuration of a search space (``space.all_ops(problem)``:
stem, each block shape, head) is measured once on the target device
(:func:`engine.hardware.lut.build.build_lut`); a candidate's latency is the sum
of its ops' entries. Keys follow the once-for-all naming
(``expanded_conv-input:16x16x24-output:8x8x32-expand:6-kernel:5-stride:2-idskip:0``),
so their YAML tables import directly. A key may end in a precision,
``-bits:w8a8`` (weight and activation bits, :func:`key_with_bits`), so a table
can price a quantised op; a key without one is fp32.

A table records per entry the mean, standard deviation, median, inter-quartile
spread and count of its measurements, and for the whole table the device,
thread count, torch version, date, space, problem (``meta.problem``; older
tables carry ``num_classes`` / ``in_channels`` instead, read as an image
classification problem) and measurement protocol. It is saved as JSON
(``LookupTable.to_json``); JSON is read back and checked by
:func:`engine.hardware.lut.schema.validate_lut_json` / ``load_lut``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from ...problems import ImageClassification, Problem, problem_from_dict
from .calibration import fit_calibration

if TYPE_CHECKING:  # pragma: no cover
    from ...spaces.base import SearchSpace

__all__ = ["LutEntry", "LookupTable", "LutMissError", "LUT_FORMAT", "LUT_VERSION", "key_with_bits",
           "problem_of_meta"]

LUT_FORMAT = "frontier-latency-lut"
LUT_VERSION = 1


class LutMissError(KeyError):
    """The table has no entry for some op of the architecture."""

    def __str__(self) -> str:  # KeyError would print the repr
        return str(self.args[0]) if self.args else "lookup-table miss"


@dataclass(frozen=True)
class LutEntry:
    mean: float
    std: float = 0.0
    count: int = 1
    median: float | None = None
    #: inter-quartile range of the measurements
    spread: float | None = None
    min: float | None = None

    def value(self, statistic: str = "median") -> float:
        """The figure summed per candidate: ``statistic`` when recorded, else the median, else the mean."""
        v = getattr(self, statistic, None) if statistic in ("median", "min", "mean") else None
        if v is None:
            v = self.median if self.median is not None else self.mean
        return float(v)

    @property
    def error(self) -> float:
        return self.spread if self.spread is not None else self.std

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "std": self.std, "count": self.count}
        if self.median is not None:
            out["median"] = self.median
        if self.spread is not None:
            out["spread"] = self.spread
        if self.min is not None:
            out["min"] = self.min
        return out


@dataclass
class LookupTable:
    entries: dict[str, LutEntry]
    #: device, threads, torch_version, date, space, space_params, problem,
    #: protocol {warmup, repeats, statistic}, profile …
    meta: dict[str, Any] = field(default_factory=dict)
    #: architectures measured whole on the same device: {"arch", "ms", "spread_ms", "repeats"}
    samples: list[dict[str, Any]] = field(default_factory=list)
    _covers: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _ms: dict[str, float] | None = field(default=None, repr=False, compare=False)

    @property
    def statistic(self) -> str:
        """Which per-entry figure is summed (``meta.protocol.statistic``; median by default)."""
        proto = self.meta.get("protocol")
        return str(proto.get("statistic", "median")) if isinstance(proto, dict) else "median"

    def entry_ms(self, key: str) -> float:
        if self._ms is None:
            stat = self.statistic
            self._ms = {k: e.value(stat) for k, e in self.entries.items()}
        return self._ms[key]

    @property
    def problem(self) -> Problem:
        """The problem the table's ops were measured for (:func:`problem_of_meta`)."""
        return problem_of_meta(self.meta)

    def missing(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k not in self.entries]

    def latency_ms(self, keys: Iterable[str]) -> float:
        if self._ms is None:
            self.entry_ms(next(iter(self.entries)))
        assert self._ms is not None
        total = 0.0
        table = self._ms
        for k in keys:
            v = table.get(k)
            if v is None:
                raise LutMissError(f"the lookup table has no entry for {k!r}")
            total += v
        return total

    @property
    def calibration(self) -> tuple[float, float] | None:
        """(scale, offset) fitted on whole-network samples, if any."""
        c = self.meta.get("calibration")
        if isinstance(c, dict) and "scale" in c and "offset" in c:
            return float(c["scale"]), float(c["offset"])
        return None

    @property
    def per_op_ms(self) -> float:
        """The calibration's cost per op in context (0 for tables calibrated on scale and offset only)."""
        c = self.meta.get("calibration")
        return float(c.get("per_op_ms", 0.0)) if isinstance(c, dict) else 0.0

    def calibrate(self, space: "SearchSpace", archs: list[dict[str, Any]] | None = None,
                  measured_ms: Iterable[float] | None = None) -> tuple[float, float]:
        """Fit ``measured ≈ scale x sum + per_op_ms x ops + offset`` on whole
        networks (the table's ``samples`` by default), minimising relative error
        (:func:`fit_calibration`), and record it in ``meta["calibration"]``.
        Isolated ops run with warm caches and without the container's own
        overhead, so a raw sum is usually biased; this corrects it."""
        if archs is None:
            archs = [s["arch"] for s in self.samples]
            measured_ms = [s["ms"] for s in self.samples]
        y = np.asarray(list(measured_ms) if measured_ms is not None else [], dtype=np.float64)
        if len(archs) != len(y) or len(y) < 3:
            raise ValueError("calibration needs at least 3 measured architectures")
        problem = self.problem
        keys = [space.op_keys(space.validate(a), problem) for a in archs]
        scale, per_op, offset = fit_calibration([self.latency_ms(k) for k in keys], [len(k) for k in keys], y)
        self.meta["calibration"] = {"scale": scale, "offset": offset, "per_op_ms": per_op, "samples": int(len(y)),
                                    "fit": "measured = scale x sum of entries + per_op_ms x ops + offset "
                                           "(relative least squares)"}
        return scale, offset

    def covers(self, space: "SearchSpace", problem: Problem | None = None,
               bits: tuple[int, int] | None = None) -> bool:
        """Whether every op any architecture of ``space`` uses for ``problem``
        (default: the table's own) has an entry (at precision ``bits``, weight
        and activation, when given)."""
        problem = problem if problem is not None else self.problem
        if problem.kind not in space.problem_kinds:
            return False
        sig = json.dumps([space.name, space.params(), problem.to_dict(), bits], sort_keys=True)
        if sig not in self._covers:
            keys = [key_with_bits(op.key, bits) for op in space.all_ops(problem)]
            self._covers[sig] = not self.missing(keys)
        return self._covers[sig]

    def to_json(self) -> dict[str, Any]:
        return {"format": LUT_FORMAT, "version": LUT_VERSION, "meta": dict(self.meta),
                "entries": {k: e.to_json() for k, e in sorted(self.entries.items())},
                "samples": list(self.samples)}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        return path


def key_with_bits(key: str, bits: tuple[int, int] | None) -> str:
    """``key`` priced at ``bits`` = (weight bits, activation bits): the fp32 key
    itself for ``None`` or (32, 32), else ``key-bits:w{W}a{A}``."""
    if bits is None:
        return key
    w, a = int(bits[0]), int(bits[1])
    if (w, a) == (32, 32):
        return key
    if not (1 <= w <= 32 and 1 <= a <= 32):
        raise ValueError(f"bits must be 1..32, got w{w} a{a}")
    return f"{key}-bits:w{w}a{a}"


def problem_of_meta(meta: dict[str, Any]) -> Problem:
    """A table's problem: ``meta["problem"]``; a table from before problems
    (``num_classes`` / ``in_channels`` only, or neither) is an image
    classification problem with those figures (10 classes, 3 channels by default)."""
    if "problem" in meta:
        return problem_from_dict(meta["problem"])
    return ImageClassification(channels=int(meta.get("in_channels", 3)), classes=int(meta.get("num_classes", 10)))
