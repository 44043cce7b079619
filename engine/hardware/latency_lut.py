"""Per-op latency lookup tables (ProxylessNAS / once-for-all style).

Each distinct op configuration of a search space (``space.all_ops()``: stem,
each block shape, head) is measured once on the target device; a candidate's
latency is the sum of its ops' entries. Keys follow the once-for-all naming
(``expanded_conv-input:16x16x24-output:8x8x32-expand:6-kernel:5-stride:2-idskip:0``),
so their YAML tables import directly (:func:`import_ofa_yaml`).

A table records per entry the mean, standard deviation, median, inter-quartile
spread and count of its measurements, and for the whole table the device,
thread count, torch version, date, space and measurement protocol. It is saved
as JSON (``LookupTable.to_json``); uploaded JSON is checked by
:func:`engine.hardware.lut_schema.validate_lut_json`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
import torch
import yaml

from .latency.base import LatencyEstimate, LatencyEstimator
from .measure import measure_many

if TYPE_CHECKING:  # pragma: no cover
    from ..spaces.base import OpSpec, SearchSpace
    from .profile import HardwareProfile

__all__ = ["LutEntry", "LookupTable", "LookupTableLatency", "LutMissError", "build_lut", "import_ofa_yaml",
           "fit_calibration",
           "LUT_FORMAT", "LUT_VERSION", "device_name"]

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
    #: device, threads, torch_version, date, space, space_params, num_classes,
    #: in_channels, protocol {warmup, repeats, statistic}, profile …
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
    def num_classes(self) -> int:
        return int(self.meta.get("num_classes", 10))

    @property
    def in_channels(self) -> int:
        return int(self.meta.get("in_channels", 3))

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
        keys = [space.op_keys(space.validate(a), self.num_classes, self.in_channels) for a in archs]
        scale, per_op, offset = fit_calibration([self.latency_ms(k) for k in keys], [len(k) for k in keys], y)
        self.meta["calibration"] = {"scale": scale, "offset": offset, "per_op_ms": per_op, "samples": int(len(y)),
                                    "fit": "measured = scale x sum of entries + per_op_ms x ops + offset "
                                           "(relative least squares)"}
        return scale, offset

    def covers(self, space: "SearchSpace") -> bool:
        """Whether every op any architecture of ``space`` uses has an entry."""
        sig = json.dumps([space.name, space.params()], sort_keys=True)
        if sig not in self._covers:
            keys = [op.key for op in space.all_ops(self.num_classes, self.in_channels)]
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

    @classmethod
    def load(cls, path: str | Path) -> "LookupTable":
        from .lut_schema import validate_lut_json
        return validate_lut_json(Path(path).read_bytes())


def fit_calibration(sums: Sequence[float], op_counts: Sequence[int], measured_ms: Sequence[float]
                    ) -> tuple[float, float, float]:
    """``(scale, per_op_ms, offset)`` with ``measured ≈ scale x sum + per_op_ms x ops + offset``,
    least squares on relative error (weights 1/measured). The per-op term
    (what an op costs in a network beyond its isolated time: cold caches, the
    container's dispatch) is fitted from 8 networks on and kept only when every
    fitted network stays positive; else scale and offset alone, else the median ratio."""
    x = np.asarray(sums, dtype=np.float64)
    n = np.asarray(op_counts, dtype=np.float64)
    y = np.asarray(measured_ms, dtype=np.float64)
    w = 1.0 / y
    for cols in ([x, n, np.ones_like(x)], [x, np.ones_like(x)]):
        if len(cols) == 3 and (len(y) < 8 or np.ptp(n) == 0):
            continue
        A = np.stack(cols, 1)
        coef = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)[0]
        if np.all(np.isfinite(coef)) and coef[0] > 0 and np.all(A @ coef > 0):
            return (float(coef[0]), float(coef[1]), float(coef[2])) if len(cols) == 3 else \
                (float(coef[0]), 0.0, float(coef[1]))
    return float(np.median(y / x)), 0.0, 0.0


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} ({platform.node() or 'host'}, {platform.system()})"


def build_lut(space: "SearchSpace", *, device: str = "cpu", threads: int = 1, warmup: int = 5, repeats: int = 20,
              rounds: int = 1, num_classes: int = 10, in_channels: int = 3, ops: list["OpSpec"] | None = None,
              archs: Sequence[dict[str, Any]] = (), seed: int = 0, profile: str = "", statistic: str = "median",
              clock: str = "wall", progress: Callable[[int, int], None] | None = None) -> LookupTable:
    """Measure every distinct op of ``space`` (or just ``ops``) once and, in the
    same interleaved passes, the whole architectures ``archs`` (stored as the
    table's ``samples``), so ops and networks see the same machine load.

    Protocol: :func:`engine.hardware.measure.measure_many` (``rounds`` passes).
    ``progress(done, total)`` is called after each module of each pass and may
    raise to stop.
    """
    ops = ops if ops is not None else space.all_ops(num_classes, in_channels)
    unique = list({op.key: op for op in ops}.values())
    archs = [space.validate(a) for a in archs]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        items = [(space.op_module(op), op.input_shape) for op in unique]
        built: dict[str, Any] = {}  # an architecture listed twice (repeat measurements) is built once
        for a in archs:
            sig = json.dumps(a, sort_keys=True)
            if sig not in built:
                built[sig] = space.build(a, num_classes, in_channels)
            items.append((built[sig], space.input_shape(a, in_channels)))
    ms = measure_many(items, warmup=warmup, repeats=repeats, rounds=rounds, threads=threads, device=device,
                      clock=clock, progress=progress)
    entries = {op.key: LutEntry(mean=m.mean_ms, std=m.std_ms, count=m.repeats, median=m.median_ms,
                                spread=m.spread_ms, min=m.min_ms) for op, m in zip(unique, ms)}
    samples = [{"arch": a, "ms": m.stat(statistic), "spread_ms": m.spread_ms, "repeats": m.repeats,
                "median_ms": m.median_ms, "min_ms": m.min_ms} for a, m in zip(archs, ms[len(unique):])]
    meta = {"device": device_name(device), "device_type": device.split(":")[0],
            "threads": ms[0].threads if ms else threads, "torch_version": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "space": space.name, "space_params": space.params(), "num_classes": num_classes,
            "in_channels": in_channels, "profile": profile,
            "protocol": {"warmup": warmup, "repeats": repeats, "rounds": rounds, "statistic": statistic, "clock": clock,
                         "spread": "inter-quartile range", "synchronize": device.startswith("cuda"),
                         "batch": 1, "interleaved": "ops and sampled architectures in the same passes"}}
    return LookupTable(entries, meta, samples)


def import_ofa_yaml(source: str | Path | bytes, **meta: Any) -> LookupTable:
    """A table in the once-for-all / ProxylessNAS YAML layout (``key: {count,
    mean, std}``, ms), read with ``yaml.safe_load``; ``meta`` fills the table's
    metadata (device, threads, …) the YAML does not carry."""
    from .lut_schema import LutError, validate_lut_json
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).is_file()):
        source = Path(source).read_text(encoding="utf-8")
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError as e:
        raise LutError([f"not valid YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise LutError(["a once-for-all table is a mapping of op keys to {count, mean, std}"])
    table = validate_lut_json(data)
    table.meta.update({"imported_from": "once-for-all yaml", **meta})
    return table


class LookupTableLatency(LatencyEstimator):
    """Sum of the table's entries over an architecture's ops."""

    source = "lut"

    def __init__(self, table: LookupTable, space: "SearchSpace | None" = None,
                 profile: "HardwareProfile | None" = None, *, calibrated: bool = True):
        super().__init__(profile, space)
        self.table = table
        cal = table.calibration if calibrated else None
        self.scale, self.offset = cal if cal is not None else (1.0, 0.0)
        self.per_op = table.per_op_ms if cal is not None else 0.0

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        space = self._need_space()
        keys = space.op_keys(space.validate(arch), self.table.num_classes, self.table.in_channels)
        raw = self.table.latency_ms(keys)
        spread = math.sqrt(sum(self.table.entries[k].error ** 2 for k in keys)) * self.scale
        calibrated = (self.scale, self.offset, self.per_op) != (1.0, 0.0, 0.0)
        return LatencyEstimate(raw * self.scale + self.per_op * len(keys) + self.offset, self.source, spread,
                               self.profile_name, {"ops": len(keys), "raw_sum_ms": raw, "calibrated": calibrated})

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        space = self._need_space()
        nc, ic = self.table.num_classes, self.table.in_channels
        keys = [space.op_keys(a, nc, ic) for a in archs]
        raw = np.array([self.table.latency_ms(k) for k in keys], dtype=np.float64)
        if self.per_op == 0.0:
            return raw * self.scale + self.offset
        return raw * self.scale + self.per_op * np.array([len(k) for k in keys], dtype=np.float64) + self.offset
