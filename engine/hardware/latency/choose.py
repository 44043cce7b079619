"""The one entry point: which latency source serves a profile, a space and a problem.

    est = latency_for(profile, space=space, problem=problem)                    # a search
    ms = est.estimate_ms_many(candidates)
    e = latency_for(profile, space=space, problem=problem, purpose="final").estimate(arch)
    e = latency_for(profile, problem=problem, purpose="final").estimate(model, problem.example_inputs())
    metrics.update(e.as_metrics())          # latency_ms, latency_source (measured / lut / predictor / roofline)

Sources are tried best first:

1. ``measured`` – when the profile is this machine (``profile.measurable``) and
   ``purpose="final"`` (a few networks, each worth timing). A search
   (``purpose="search"``) scores thousands of candidates and never times each;
2. ``lut`` – the profile's attached lookup table (parsed and validated once per
   attached table object), else a table kept in ``cache_dir`` for the profile,
   space and problem (also one a device agent wrote there), else, for a search
   on a measurable profile, one built now (every op timed once) and kept there;
3. ``predictor`` – the profile's trained latency predictor for this space;
4. ``roofline`` – the profile's figures; always available, always an estimate.

A table or predictor that cannot price a module (not built by its space, an
op the table lacks) hands it to the roofline. ``source`` forces one of
:data:`SEARCH_SOURCES` (``"auto"``: the order above); a forced source the
profile cannot give raises ValueError.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..lut.build import build_lut
from ..lut.schema import load_lut, validate_lut_json
from ..lut.table import LookupTable
from .base import SOURCES, LatencyEstimator
from .lut import LookupTableLatency
from .measured import MeasuredLatency
from .predictor import LatencyPredictor, PredictorLatency, validate_predictor_json
from .roofline import RooflineLatency

if TYPE_CHECKING:  # pragma: no cover
    from ...problems import Problem
    from ...spaces.base import SearchSpace
    from ..profile import HardwareProfile

__all__ = ["latency_for", "SEARCH_SOURCES", "PURPOSES", "SEARCH_LUT_PROTOCOL", "attached_table",
           "attached_predictor", "cached_table_path"]

#: what a technique's config may force (``auto``: the best available)
SEARCH_SOURCES = ("auto", "lut", "roofline")
PURPOSES = ("search", "final")
#: how a search's table is measured on this machine (every op once, one thread)
SEARCH_LUT_PROTOCOL: dict[str, Any] = {"threads": 1, "warmup": 2, "repeats": 10}

_ORDER = {"search": ("lut", "predictor", "roofline"), "final": ("measured", "lut", "predictor", "roofline")}
_PARSED: "OrderedDict[int, tuple[Any, Any]]" = OrderedDict()
_MAX_PARSED = 32


def _parsed_once(raw: dict[str, Any], parse: Callable[[dict[str, Any]], Any]) -> Any:
    """``parse(raw)``, kept while ``raw`` (the very object) stays attached."""
    hit = _PARSED.get(id(raw))
    if hit is not None and hit[0] is raw:
        _PARSED.move_to_end(id(raw))
        return hit[1]
    value = parse(raw)
    _PARSED[id(raw)] = (raw, value)  # holding ``raw`` keeps its id from being reused
    while len(_PARSED) > _MAX_PARSED:
        _PARSED.popitem(last=False)
    return value


def attached_table(profile: "HardwareProfile") -> LookupTable | None:
    """The profile's attached lookup table, validated (once per attached object)."""
    raw = profile.lookup_table
    return None if raw is None else _parsed_once(raw, validate_lut_json)


def attached_predictor(profile: "HardwareProfile") -> LatencyPredictor | None:
    """The profile's trained latency predictor, validated (once per attached object)."""
    raw = profile.latency_predictor
    return None if raw is None else _parsed_once(raw, validate_predictor_json)


def cached_table_path(cache_dir: str | Path, profile: "HardwareProfile", space: "SearchSpace",
                      problem: "Problem") -> Path:
    """Where a table for (profile, space, problem) is kept under ``cache_dir``."""
    sig = json.dumps([space.name, space.params(), problem.to_dict()], sort_keys=True)
    return Path(cache_dir) / f"{profile.name}-{hashlib.sha1(sig.encode()).hexdigest()[:12]}.json"


def _serving(table: LookupTable, space: "SearchSpace | None",
             problem: "Problem | None") -> "tuple[LookupTable, Problem | None] | None":
    """(table, the problem to price with) when ``table`` serves ``space``:
    exactly for ``problem``, else for the table's own problem (a table built
    for another class count or channel count still prices the body alike)."""
    if space is None:
        return table, problem
    if problem is not None and table.covers(space, problem):
        return table, problem
    if table.covers(space):
        return table, table.problem
    return None


def _table(profile: "HardwareProfile", space: "SearchSpace | None", problem: "Problem | None", purpose: str, *,
           lut: LookupTable | None, cache_dir: str | Path | None,
           progress: Callable[[int, int], None] | None) -> "tuple[LookupTable, Problem | None] | None":
    given = lut if lut is not None else attached_table(profile)
    if given is not None:
        hit = _serving(given, space, problem)
        if hit is not None:
            return hit
    if space is None or problem is None:
        return None
    path = cached_table_path(cache_dir, profile, space, problem) if cache_dir is not None else None
    if path is not None and path.is_file():
        hit = _serving(load_lut(path), space, problem)
        if hit is not None:
            return hit
    if purpose == "search" and profile.measurable:
        table = build_lut(space, problem, profile=profile.name, progress=progress, **SEARCH_LUT_PROTOCOL)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            table.save(path)
        return table, problem
    return None


def latency_for(profile: "HardwareProfile", *, space: "SearchSpace | None" = None, problem: "Problem | None" = None,
                purpose: str = "search", source: str = "auto", lut: LookupTable | None = None,
                predictor: LatencyPredictor | None = None, measure: dict[str, Any] | None = None,
                cache_dir: str | Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> LatencyEstimator:
    """The best latency source for ``profile`` (see the module's docstring).

    ``space`` and ``problem``: what the estimator prices (architectures need
    both; a plain module needs neither, it comes with its example inputs).
    ``purpose``: ``"search"`` (thousands of candidates: never timed one by
    one) or ``"final"`` (a few networks: timed when the profile is this
    machine). ``lut`` / ``predictor`` replace the profile's attached ones.
    ``measure``: :class:`MeasuredLatency` options (threads, warmup, repeats,
    rounds, clock, statistic). ``cache_dir``: where tables built for a search
    are kept and looked up. ``progress(done, total)`` follows a table's build.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    if source != "auto" and source not in SOURCES:
        raise ValueError(f"latency source must be 'auto' or one of {SOURCES}, got {source!r}")
    if problem is not None and space is not None:
        space.check_problem(problem)
    roofline = RooflineLatency(profile, space, problem)
    order = _ORDER[purpose] if source == "auto" else (source,)
    for src in order:
        if src == "measured" and profile.measurable:
            return MeasuredLatency(profile, space, problem, **(measure or {}))
        if src == "lut":
            hit = _table(profile, space, problem, purpose, lut=lut, cache_dir=cache_dir, progress=progress)
            if hit is not None:
                return LookupTableLatency(hit[0], space, profile, problem=hit[1], fallback=roofline)
        if src == "predictor":
            pred = predictor if predictor is not None else attached_predictor(profile)
            if pred is not None and (space is None or pred.matches(space)):
                return PredictorLatency(pred, space, profile, fallback=roofline)
        if src == "roofline":
            return roofline
    if source == "measured":
        raise ValueError(f"profile {profile.name!r} is not this machine: its latency cannot be measured here")
    if source == "lut":
        raise ValueError(f"no lookup table for profile {profile.name!r} (it cannot be measured here); "
                         "use latency source 'roofline' or attach a table from the device agent")
    raise ValueError(f"profile {profile.name!r} has no latency predictor for this space")
