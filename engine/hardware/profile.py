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


def _field(default: Any = dataclasses.MISSING, *, label: str, help: str, unit: str = "",
           bounds: tuple[float, float] | None = None, choices: tuple[str, ...] | None = None,
           max_length: int | None = None, keys: tuple[str, ...] | None = None, required_keys: tuple[str, ...] = (),
           editable: bool = True, attached: bool = False) -> Any:
    """A profile field with the metadata forms and serializers are generated
    from (as a Config's are): label, help, unit, bounds, choices, the text
    length limit, the keys of a per-precision mapping, whether a user sets it
    (``editable``) and whether it is attached data rather than a figure."""
    meta = {"label": label, "help": help, "unit": unit, "min": bounds[0] if bounds else None,
            "max": bounds[1] if bounds else None, "choices": choices, "max_length": max_length, "keys": keys,
            "required_keys": required_keys, "editable": editable, "attached": attached}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    if attached:
        return field(default=default, metadata=meta, compare=False, repr=False)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class HardwareProfile:
    """A target device. Throughput figures are *peak* figures from the cited source."""

    name: str = _field(label="Name", help="Short name: letters, digits, - and _ (at most 60)", max_length=60,
                       editable=False)
    title: str = _field(label="Title", help="What the device is called in lists and plots", max_length=200)
    kind: str = _field("cpu", label="Kind", help="The kind of device", choices=KINDS)
    #: peak multiply-accumulates per second, in GMAC/s, per precision
    peak_gmacs: dict[str, float] = _field({"fp32": 100.0}, label="Peak", unit="GMAC/s",
                                          help="Peak multiply-accumulates per second at each precision",
                                          bounds=BOUNDS["peak_gmacs"], keys=PRECISIONS, required_keys=("fp32",))
    memory_bandwidth_gbs: float = _field(10.0, label="Memory bandwidth", unit="GB/s", help="Main memory bandwidth",
                                         bounds=BOUNDS["memory_bandwidth_gbs"])
    onchip_memory_kb: float = _field(1024.0, label="On-chip memory / cache", unit="KiB",
                                     help="Cache or SRAM next to the compute units", bounds=BOUNDS["onchip_memory_kb"])
    memory_capacity_mb: float = _field(4096.0, label="Memory capacity", unit="MiB", help="Main memory",
                                       bounds=BOUNDS["memory_capacity_mb"])
    storage_mb: float = _field(0.0, label="Storage / flash", unit="MiB", help="Flash or disk for the weights",
                               bounds=BOUNDS["storage_mb"])
    layer_overhead_us: float = _field(10.0, label="Per-layer overhead", unit="µs",
                                      help="Fixed cost of launching one layer", bounds=BOUNDS["layer_overhead_us"])
    cores: int = _field(1, label="Cores", help="Compute cores", bounds=BOUNDS["cores"])
    #: throughput scales with weight bits x activation bits (BitFusion-like)
    bit_flexible: bool = _field(False, label="Bit flexible",
                                help="Throughput scales with weight x activation bits (BitFusion-like).")
    #: latency can be measured on the machine running the engine
    measurable: bool = _field(False, label="Measurable", help="Latency can be measured on the worker running it",
                              editable=False)
    source: str = _field("", label="Source", help="Where the figures come from (datasheet, measurement).",
                         max_length=4000)
    notes: str = _field("", label="Notes", help="Anything else worth knowing", max_length=4000)
    #: a lookup table measured on the device (the agent's JSON), attached by the
    #: user; and a trained latency predictor (its JSON). Plain data, validated
    #: when used with ``validate_lut_json`` / ``validate_predictor_json``.
    lookup_table: dict | None = _field(None, label="Lookup table", help="Per-op latency measured on the device",
                                       editable=False, attached=True)
    latency_predictor: dict | None = _field(None, label="Latency predictor", help="A trained latency predictor",
                                            editable=False, attached=True)

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
