"""Hardware profiles: the figures a cost model needs about a target device.

Built-in profiles are YAML data files in ``engine/hardware/profiles/``, loaded
with ``yaml.safe_load``; each cites the source of its figures in ``source``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["HardwareProfile", "PRECISIONS", "KINDS", "builtin_profiles", "get_profile", "local_cpu_profile",
           "ProfileError", "precision_for_bits"]

PRECISIONS = ("fp32", "fp16", "int8", "int4", "int2")
KINDS = ("cpu", "gpu", "phone", "embedded-gpu", "mcu", "accelerator", "other")
_DIR = Path(__file__).parent / "profiles"

# Bounds every profile number must respect (units in the field names).
BOUNDS: dict[str, tuple[float, float]] = {
    "peak_gmacs": (1e-6, 1e7),           # giga multiply-accumulates per second
    "memory_bandwidth_gbs": (1e-6, 1e5),  # GB/s
    "onchip_memory_kb": (0, 1e7),
    "memory_capacity_mb": (1e-3, 1e8),
    "storage_mb": (0, 1e9),
    "layer_overhead_us": (0, 1e6),
    "cores": (1, 100000),
}


class ProfileError(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class HardwareProfile:
    """A target device. Throughput figures are *peak* figures from the cited source."""

    name: str
    title: str
    kind: str = "cpu"
    #: peak multiply-accumulates per second, in GMAC/s, per precision
    peak_gmacs: dict[str, float] = field(default_factory=lambda: {"fp32": 100.0})
    memory_bandwidth_gbs: float = 10.0
    onchip_memory_kb: float = 1024.0
    memory_capacity_mb: float = 4096.0
    storage_mb: float = 0.0
    layer_overhead_us: float = 10.0
    cores: int = 1
    #: throughput scales with weight bits x activation bits (BitFusion-like)
    bit_flexible: bool = False
    #: latency can be measured on the machine running the engine
    measurable: bool = False
    source: str = ""
    notes: str = ""
    #: a lookup table measured on the device (the agent's JSON), attached by the
    #: user; and a trained latency predictor (its JSON). Plain data, validated
    #: when used with ``validate_lut_json`` / ``validate_predictor_json``.
    lookup_table: dict | None = field(default=None, compare=False, repr=False)
    latency_predictor: dict | None = field(default=None, compare=False, repr=False)

    def peak(self, precision: str = "fp32") -> float:
        """Peak GMAC/s at ``precision``, falling back to the nearest wider one."""
        order = list(PRECISIONS)
        i = order.index(precision) if precision in order else 0
        for p in reversed(order[: i + 1]):
            if p in self.peak_gmacs:
                return float(self.peak_gmacs[p])
        return float(next(iter(self.peak_gmacs.values())))

    def peak_bits(self, weight_bits: float = 32, activation_bits: float = 32) -> float:
        """Peak GMAC/s for ``weight_bits`` x ``activation_bits`` operands.

        A bit-flexible profile (BitFusion-like) composes 2-bit x 2-bit bricks, so
        its throughput is the 2x2 peak divided by ceil(w/2) x ceil(a/2); the 2x2
        peak is ``peak_gmacs["int2"]`` or derived from the narrowest listed
        precision. Other profiles use the precision that holds the wider operand.
        """
        w, a = max(1.0, float(weight_bits)), max(1.0, float(activation_bits))
        if self.bit_flexible:
            ref = min(self.peak_gmacs, key=lambda p: _BITS[p])
            rb = _BITS[ref]
            base = self.peak_gmacs[ref] * math.ceil(rb / 2) ** 2
            return float(base / (math.ceil(w / 2) * math.ceil(a / 2)))
        return self.peak(precision_for_bits(max(w, a)))

    def to_dict(self, *, with_models: bool = False) -> dict[str, Any]:
        """Plain data; the (large) attached lookup table and predictor only
        with ``with_models``."""
        out = dataclasses.asdict(self)
        if not with_models:
            out.pop("lookup_table")
            out.pop("latency_predictor")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HardwareProfile":
        """Validate a profile given as plain data (YAML, JSON, a form)."""
        errors: dict[str, str] = {}
        known = {f.name for f in dataclasses.fields(cls)}
        for k in data:
            if k not in known:
                errors[k] = "unknown field"
        name = str(data.get("name", "")).strip()
        if not name or len(name) > 60 or not all(c.isalnum() or c in "-_" for c in name):
            errors["name"] = "a slug of letters, digits, - and _ (at most 60)"
        if data.get("kind", "cpu") not in KINDS:
            errors["kind"] = "one of " + ", ".join(KINDS)
        peaks = data.get("peak_gmacs", {"fp32": 100.0})
        if not isinstance(peaks, dict) or not peaks:
            errors["peak_gmacs"] = "a mapping of precision to GMAC/s"
        else:
            for p, v in peaks.items():
                if p not in PRECISIONS:
                    errors["peak_gmacs"] = f"unknown precision {p!r} (one of {', '.join(PRECISIONS)})"
                elif not _in_bounds(v, BOUNDS["peak_gmacs"]):
                    errors["peak_gmacs"] = f"{p}: must be a number in {BOUNDS['peak_gmacs']}"
        for key, limit in (("title", 200), ("source", 4000), ("notes", 4000)):
            if key in data and (not isinstance(data[key], str) or len(data[key]) > limit):
                errors[key] = f"text of at most {limit} characters"
        for key in ("lookup_table", "latency_predictor"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                errors[key] = "a JSON object"
        for key in ("bit_flexible", "measurable"):
            if key in data and not isinstance(data[key], bool):
                errors[key] = "true or false"
        for key, bounds in BOUNDS.items():
            if key == "peak_gmacs" or key not in data:
                continue
            if not _in_bounds(data[key], bounds):
                errors[key] = f"must be a number from {bounds[0]:g} to {bounds[1]:g}"
        if errors:
            raise ProfileError(errors)
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["peak_gmacs"] = {str(k): float(v) for k, v in peaks.items()}
        return cls(**kwargs)


_BITS = {"fp32": 32, "fp16": 16, "int8": 8, "int4": 4, "int2": 2}


def precision_for_bits(bits: float) -> str:
    """The narrowest precision name that holds ``bits`` (5 → ``"int8"``)."""
    for p in ("int2", "int4", "int8", "fp16"):
        if bits <= _BITS[p]:
            return p
    return "fp32"


def _in_bounds(v: Any, bounds: tuple[float, float]) -> bool:
    if isinstance(v, bool):
        return False
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return bounds[0] <= f <= bounds[1]


def local_cpu_profile() -> HardwareProfile:
    """This machine's CPU: core count detected; peak figures are a rough
    estimate (cores x 2 FMA x 8 fp32 lanes x 2.5 GHz) and latency is measured."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    fp32 = cores * 2 * 8 * 2.5
    return HardwareProfile(
        name="local-cpu", title=f"This machine's CPU ({cores} cores, {platform.machine()})", kind="cpu",
        peak_gmacs={"fp32": fp32, "int8": fp32 * 2}, memory_bandwidth_gbs=20.0, onchip_memory_kb=32768,
        memory_capacity_mb=_mem_mb(), cores=cores, layer_overhead_us=20.0, measurable=True,
        source="Detected core count; peak GMAC/s estimated as cores x 2 FMA units x 8 fp32 lanes x 2.5 GHz "
               "(an estimate); latency on this profile is measured, not estimated.",
    )


def _mem_mb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return 4096.0


def builtin_profiles() -> list[HardwareProfile]:
    out = [local_cpu_profile()]
    for path in sorted(_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            out.append(HardwareProfile.from_dict(yaml.safe_load(fh)))
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate built-in profile names: {names}")
    return out


def get_profile(name: str) -> HardwareProfile:
    for p in builtin_profiles():
        if p.name == name:
            return p
    raise KeyError(f"unknown hardware profile {name!r}; built-in: "
                   + ", ".join(p.name for p in builtin_profiles()))
