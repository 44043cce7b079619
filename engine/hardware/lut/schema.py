"""Validation of uploaded lookup tables (JSON from the device agent, or a
once-for-all / ProxylessNAS table): size limits, types, bounds, and one clear
message per problem.

    table = validate_lut_json(request_body)   # raises LutError (a ValueError)

Accepted layouts:

- Frontier's (what ``python -m engine.hardware.agent`` writes)::

    {"format": "frontier-latency-lut", "version": 1,
     "meta": {"device": str, "threads": int, "torch_version": str, "date": str,
              "space": str, "space_params": {...}, "problem": {"kind": ..., ...},
              "protocol": {...}, ...},
     "entries": {"<op key>": {"mean": ms, "std": ms, "count": n,
                              "median": ms, "spread": ms, "min": ms}, ...},
     "samples": [{"arch": {...}, "ms": ms, "spread_ms": ms, "repeats": n}, ...]}

- once-for-all's: ``{"<op key>": {"count": n, "mean": ms, "std": ms}, ...}``.

Op keys may end in a precision, ``-bits:w8a8``. Tables written before problems
(``meta.num_classes`` / ``meta.in_channels``, no ``meta.problem``) still load:
they are read as image classification.

    table = load_lut(path)   # a saved table, checked the same way
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from .table import LUT_FORMAT, LUT_VERSION, LookupTable, LutEntry, problem_of_meta

__all__ = ["LutError", "validate_lut_json", "load_lut", "LUT_JSON_SCHEMA", "MAX_LUT_BYTES", "MAX_ENTRIES",
           "MAX_SAMPLES"]

MAX_LUT_BYTES = 8 * 2**20
MAX_ENTRIES = 50_000
MAX_SAMPLES = 20_000
MAX_MS = 1e7
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(-[A-Za-z_]+:[0-9x.]+)*(-bits:w[0-9]{1,2}a[0-9]{1,2})?$")
_MAX_ERRORS = 20

META_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "device": (str, "text"), "device_type": (str, "text"), "threads": (int, "a whole number"),
    "torch_version": (str, "text"), "date": (str, "text"), "space": (str, "text"), "space_params": (dict, "an object"),
    "num_classes": (int, "a whole number"), "in_channels": (int, "a whole number"), "protocol": (dict, "an object"),
    "profile": (str, "text"), "host": (str, "text"), "imported_from": (str, "text"), "agent": (dict, "an object"),
    "problem": (dict, "an object"),
}

#: The same rules as JSON Schema (for the API docs); the code below enforces them.
LUT_JSON_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["entries"],
    "properties": {
        "format": {"const": LUT_FORMAT}, "version": {"type": "integer", "minimum": 1, "maximum": LUT_VERSION},
        "meta": {"type": "object"},
        "entries": {"type": "object", "minProperties": 1, "maxProperties": MAX_ENTRIES,
                    "propertyNames": {"pattern": _KEY.pattern, "maxLength": 300},
                    "additionalProperties": {
                        "type": "object", "required": ["mean"],
                        "properties": {"mean": {"type": "number", "minimum": 0, "maximum": MAX_MS},
                                       "std": {"type": "number", "minimum": 0},
                                       "count": {"type": "integer", "minimum": 1},
                                       "median": {"type": "number", "minimum": 0, "maximum": MAX_MS},
                                       "spread": {"type": "number", "minimum": 0},
                                       "min": {"type": "number", "minimum": 0, "maximum": MAX_MS}}}},
        "samples": {"type": "array", "maxItems": MAX_SAMPLES,
                    "items": {"type": "object", "required": ["arch", "ms"],
                              "properties": {"arch": {"type": "object"}, "ms": {"type": "number", "minimum": 0},
                                             "spread_ms": {"type": "number", "minimum": 0},
                                             "repeats": {"type": "integer", "minimum": 1}}}},
    },
}


class LutError(ValueError):
    """An invalid lookup table; ``errors`` lists every problem found (up to 20)."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        more = "" if len(self.errors) < _MAX_ERRORS else " (stopped after 20 problems)"
        super().__init__("invalid lookup table: " + "; ".join(self.errors) + more)


def _num(v: Any, lo: float, hi: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi


def _int(v: Any, lo: int, hi: int) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi) or (
        isinstance(v, float) and v.is_integer() and lo <= v <= hi)


class _Errors(list):
    def add(self, msg: str) -> None:
        self.append(msg)
        if len(self) >= _MAX_ERRORS:
            raise LutError(self)


def _entry(key: str, v: Any, errs: _Errors, strict: bool) -> LutEntry | None:
    where = f"entries[{key[:80]!r}]"
    if not isinstance(v, dict):
        errs.add(f"{where}: must be an object with mean (ms), std, count")
        return None
    ok = True
    if "mean" not in v:
        errs.add(f"{where}: missing 'mean' (milliseconds)")
        ok = False
    for name in ("mean", "median", "min"):
        if name in v and not _num(v[name], 0.0, MAX_MS):
            errs.add(f"{where}.{name}: must be a number of milliseconds from 0 to {MAX_MS:g} (got {v[name]!r:.40})")
            ok = False
    for name in ("std", "spread"):
        if name in v and not _num(v[name], 0.0, MAX_MS):
            errs.add(f"{where}.{name}: must be a non-negative number (got {v[name]!r:.40})")
            ok = False
    if "count" in v and not _int(v["count"], 1, 10**9):
        errs.add(f"{where}.count: must be a whole number >= 1 (got {v['count']!r:.40})")
        ok = False
    if strict:
        extra = sorted(set(v) - {"mean", "std", "count", "median", "spread", "min"})
        if extra:
            errs.add(f"{where}: unknown fields {', '.join(map(str, extra))[:100]}")
            ok = False
    if not ok:
        return None
    return LutEntry(mean=float(v["mean"]), std=float(v.get("std", 0.0)), count=int(v.get("count", 1)),
                    median=float(v["median"]) if "median" in v else None,
                    spread=float(v["spread"]) if "spread" in v else None,
                    min=float(v["min"]) if "min" in v else None)


def _entries(raw: Any, errs: _Errors, strict: bool) -> dict[str, LutEntry]:
    if not isinstance(raw, dict) or not raw:
        errs.add("entries: must be a non-empty object mapping op keys to measurements")
        return {}
    if len(raw) > MAX_ENTRIES:
        errs.add(f"entries: {len(raw)} entries, at most {MAX_ENTRIES} allowed")
        return {}
    out = {}
    for key, v in raw.items():
        if not isinstance(key, str) or len(key) > 300 or not _KEY.match(key):
            errs.add(f"entries: key {str(key)[:80]!r} is not an op key like "
                     "'expanded_conv-input:16x16x24-output:8x8x32-expand:6-kernel:5-stride:2-idskip:0'")
            continue
        e = _entry(key, v, errs, strict)
        if e is not None:
            out[key] = e
    return out


def _meta(raw: Any, errs: _Errors) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errs.add("meta: must be an object")
        return {}
    before = len(errs)
    for k, v in raw.items():
        if k in META_FIELDS:
            tp, what = META_FIELDS[k]
            if tp is int:
                if not _int(v, 1, 100_000):
                    errs.add(f"meta.{k}: must be {what} from 1 to 100000 (got {v!r:.40})")
            elif not isinstance(v, tp):
                errs.add(f"meta.{k}: must be {what}")
            elif isinstance(v, str) and len(v) > 500:
                errs.add(f"meta.{k}: at most 500 characters")
        elif not isinstance(v, (str, int, float, bool, type(None), dict, list)):
            errs.add(f"meta.{k}: must be JSON")
    if len(errs) == before:  # the problem, or the older num_classes / in_channels, must make one
        try:
            problem_of_meta(raw)
        except ValueError as e:
            errs.add(f"meta.problem: {e}")
    return dict(raw)


def _samples(raw: Any, errs: _Errors) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errs.add("samples: must be a list of {arch, ms}")
        return []
    if len(raw) > MAX_SAMPLES:
        errs.add(f"samples: {len(raw)} samples, at most {MAX_SAMPLES} allowed")
        return []
    out = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or not isinstance(s.get("arch"), dict):
            errs.add(f"samples[{i}]: must be an object with an 'arch' object and 'ms'")
            continue
        if not _num(s.get("ms"), 0.0, MAX_MS):
            errs.add(f"samples[{i}].ms: must be a number of milliseconds from 0 to {MAX_MS:g}")
            continue
        if "spread_ms" in s and not _num(s["spread_ms"], 0.0, MAX_MS):
            errs.add(f"samples[{i}].spread_ms: must be a non-negative number")
            continue
        out.append(dict(s))
    return out


def validate_lut_json(data: bytes | str | dict[str, Any], *, max_bytes: int = MAX_LUT_BYTES) -> LookupTable:
    """Parse and check a lookup table; raise :class:`LutError` listing what is wrong."""
    if isinstance(data, (bytes, bytearray, str)):
        size = len(data.encode("utf-8") if isinstance(data, str) else data)
        if size > max_bytes:
            raise LutError([f"the file is {size / 2**20:.1f} MiB; at most {max_bytes / 2**20:.0f} MiB allowed"])
        try:
            data = json.loads(data)
        except UnicodeDecodeError:
            raise LutError(["the file is not UTF-8 text"]) from None
        except json.JSONDecodeError as e:
            raise LutError([f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"]) from None
        except ValueError as e:  # an integer of 4,300 digits and more, which Python refuses to convert
            raise LutError([f"not valid JSON: {str(e)[:120]}"]) from None
    if not isinstance(data, dict):
        raise LutError([f"a lookup table is a JSON object, not {type(data).__name__}"])
    errs = _Errors()
    if "entries" in data:  # Frontier layout
        fmt = data.get("format", LUT_FORMAT)
        if fmt != LUT_FORMAT:
            errs.add(f"format: expected {LUT_FORMAT!r}, got {str(fmt)[:60]!r}")
        ver = data.get("version", LUT_VERSION)
        if not _int(ver, 1, LUT_VERSION):
            errs.add(f"version: this engine reads version 1 to {LUT_VERSION}, got {ver!r:.20}")
        extra = sorted(set(data) - {"format", "version", "meta", "entries", "samples"})
        if extra:
            errs.add("unknown top-level fields: " + ", ".join(map(str, extra))[:200])
        entries = _entries(data["entries"], errs, strict=True)
        meta = _meta(data.get("meta"), errs)
        samples = _samples(data.get("samples"), errs)
    elif data and all(isinstance(v, dict) and "mean" in v for v in data.values()):  # once-for-all layout
        entries = _entries(data, errs, strict=False)
        meta, samples = {"imported_from": "once-for-all layout"}, []
    else:
        raise LutError(["expected an object with 'entries' (Frontier layout, as the device agent writes) or a "
                        "mapping of op keys to {mean, std, count} (once-for-all layout)"])
    if errs:
        raise LutError(errs)
    return LookupTable(entries, meta, samples)


def load_lut(path: str | Path) -> LookupTable:
    """A table saved with ``LookupTable.save`` (or any JSON the validator accepts)."""
    return validate_lut_json(Path(path).read_bytes())
