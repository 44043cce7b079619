"""Building lookup tables: measure every op of a space on this machine
(:func:`build_lut`, what the device agent runs), or import a once-for-all /
ProxylessNAS YAML table (:func:`import_ofa_yaml`)."""
from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
import yaml

from ...problems import Problem
from ..measure import measure_many
from .schema import LutError, validate_lut_json
from .table import LookupTable, LutEntry

if TYPE_CHECKING:  # pragma: no cover
    from ...spaces.base import OpSpec, SearchSpace

__all__ = ["build_lut", "import_ofa_yaml", "device_name"]


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{platform.processor() or platform.machine()} ({platform.node() or 'host'}, {platform.system()})"


def build_lut(space: "SearchSpace", problem: Problem, *, device: str = "cpu", threads: int = 1, warmup: int = 5,
              repeats: int = 20, rounds: int = 1, ops: list["OpSpec"] | None = None,
              archs: Sequence[dict[str, Any]] = (), seed: int = 0, profile: str = "", statistic: str = "median",
              clock: str = "wall", progress: Callable[[int, int], None] | None = None) -> LookupTable:
    """Measure every distinct op of ``space`` for ``problem`` (or just ``ops``) once and, in the
    same interleaved passes, the whole architectures ``archs`` (stored as the
    table's ``samples``), so ops and networks see the same machine load.

    Protocol: :func:`engine.hardware.measure.measure_many` (``rounds`` passes),
    each module run on its seeded example inputs (``op.example_inputs()``,
    ``space.example_inputs(arch, problem)``).
    ``progress(done, total)`` is called after each module of each pass and may
    raise to stop.
    """
    space.check_problem(problem)
    ops = ops if ops is not None else space.all_ops(problem)
    unique = list({op.key: op for op in ops}.values())
    archs = [space.validate(a) for a in archs]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        items = [(space.op_module(op), op.example_inputs(seed=seed)) for op in unique]
        built: dict[str, Any] = {}  # an architecture listed twice (repeat measurements) is built once
        for a in archs:
            sig = json.dumps(a, sort_keys=True)
            if sig not in built:
                built[sig] = space.build(a, problem)
            items.append((built[sig], space.example_inputs(a, problem, seed=seed)))
    ms = measure_many(items, warmup=warmup, repeats=repeats, rounds=rounds, threads=threads, device=device,
                      clock=clock, progress=progress)
    entries = {op.key: LutEntry(mean=m.mean_ms, std=m.std_ms, count=m.repeats, median=m.median_ms,
                                spread=m.spread_ms, min=m.min_ms) for op, m in zip(unique, ms)}
    samples = [{"arch": a, "ms": m.stat(statistic), "spread_ms": m.spread_ms, "repeats": m.repeats,
                "median_ms": m.median_ms, "min_ms": m.min_ms} for a, m in zip(archs, ms[len(unique):])]
    meta = {"device": device_name(device), "device_type": device.split(":")[0],
            "threads": ms[0].threads if ms else threads, "torch_version": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "space": space.name, "space_params": space.params(), "problem": problem.to_dict(),
            "profile": profile,
            "protocol": {"warmup": warmup, "repeats": repeats, "rounds": rounds, "statistic": statistic, "clock": clock,
                         "spread": "inter-quartile range", "synchronize": device.startswith("cuda"),
                         "batch": 1, "interleaved": "ops and sampled architectures in the same passes"}}
    return LookupTable(entries, meta, samples)


def import_ofa_yaml(source: str | Path | bytes, **meta: Any) -> LookupTable:
    """A table in the once-for-all / ProxylessNAS YAML layout (``key: {count,
    mean, std}``, ms), read with ``yaml.safe_load``; ``meta`` fills the table's
    metadata (device, threads, …) the YAML does not carry."""
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
