"""One interface for every latency source.

    est = estimator_for(profile, space, lut=lut, predictor=predictor)
    e = est.estimate(arch)            # LatencyEstimate(ms=…, source="lut", spread_ms=…)
    es = est.estimate_many(archs)     # batched
    metrics.update(e.as_metrics())    # latency_ms, latency_source, latency_spread_ms

Sources (``LatencyEstimate.source``):

- ``measured``  – timed on the machine running the engine (``MeasuredLatency``);
- ``lut``       – per-op lookup table summed over the ops (``LookupTableLatency``);
- ``predictor`` – a small MLP on the architecture encoding (``PredictorLatency``);
- ``roofline``  – per layer max(compute, memory) + overhead from the profile's
  figures (``RooflineLatency``), always an estimate.

:func:`estimator_for` picks the best available one in :data:`DEFAULT_ORDER`;
:func:`latency_of_model` is the entry point for a plain ``nn.Module``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ...spaces.base import SearchSpace
    from ..cost import ModelCost
    from ..latency_lut import LookupTable
    from .predictor import LatencyPredictor
    from ..profile import HardwareProfile

__all__ = ["LatencyEstimate", "LatencyEstimator", "SOURCES", "DEFAULT_ORDER", "estimator_for",
           "latency_of_model", "available_sources"]

SOURCES = ("measured", "lut", "predictor", "roofline")
#: The order :func:`estimator_for` tries: a real measurement when the profile is
#: this machine, else the profile's lookup table, else its predictor, else the roofline.
DEFAULT_ORDER: tuple[str, ...] = ("measured", "lut", "predictor", "roofline")


@dataclass(frozen=True)
class LatencyEstimate:
    """Milliseconds for one inference (batch 1), where the number comes from,
    and its spread (inter-quartile range of measurements, or the error bar the
    source carries; ``None`` when unknown)."""

    ms: float
    source: str
    spread_ms: float | None = None
    profile: str = ""
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"latency_ms": float(self.ms), "latency_source": self.source}
        if self.spread_ms is not None:
            out["latency_spread_ms"] = float(self.spread_ms)
        return out


class LatencyEstimator(ABC):
    """Latency of architectures of a search space (``estimate(arch)``) and, for
    sources that can, of any module (``estimate(model, input_shape=...)``)."""

    source: str = ""

    def __init__(self, profile: "HardwareProfile | None" = None, space: "SearchSpace | None" = None):
        self.profile = profile
        self.space = space

    @property
    def profile_name(self) -> str:
        return self.profile.name if self.profile is not None else ""

    def estimate(self, arch_or_model: dict[str, Any] | nn.Module, input_shape: Sequence[int] | None = None,
                 **kwargs: Any) -> LatencyEstimate:
        if isinstance(arch_or_model, nn.Module):
            if input_shape is None:
                raise ValueError("input_shape is needed to estimate a module's latency")
            return self.estimate_model(arch_or_model, tuple(input_shape), **kwargs)
        return self.estimate_arch(arch_or_model, **kwargs)

    @abstractmethod
    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate: ...

    def estimate_model(self, model: nn.Module, input_shape: tuple[int, ...], **kwargs: Any) -> LatencyEstimate:
        raise TypeError(f"the {self.source} source estimates architectures of a search space, not modules")

    def estimate_many(self, archs: Iterable[dict[str, Any]]) -> list[LatencyEstimate]:
        return [self.estimate_arch(a) for a in archs]

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        """Milliseconds only, as an array (the fast path searches call)."""
        return np.array([e.ms for e in self.estimate_many(archs)], dtype=np.float64)

    def _need_space(self) -> "SearchSpace":
        if self.space is None:
            raise ValueError(f"the {self.source} estimator was made without a search space")
        return self.space

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self.profile_name!r}, space={getattr(self.space, 'name', None)!r})"


def available_sources(profile: "HardwareProfile", space: "SearchSpace | None" = None, *,
                      lut: "LookupTable | None" = None, predictor: "LatencyPredictor | None" = None) -> list[str]:
    """The sources that can serve ``profile`` (and ``space``), best first."""
    out = []
    if profile.measurable:
        out.append("measured")
    if lut is not None and space is not None and lut.covers(space):
        out.append("lut")
    if predictor is not None and space is not None and predictor.matches(space):
        out.append("predictor")
    out.append("roofline")
    return out


def estimator_for(profile: "HardwareProfile", space: "SearchSpace | None" = None, *,
                  lut: "LookupTable | None" = None, predictor: "LatencyPredictor | None" = None,
                  order: Sequence[str] = DEFAULT_ORDER, measure: dict[str, Any] | None = None) -> LatencyEstimator:
    """The profile's best available latency source, tried in ``order``.

    ``measured`` needs a measurable profile (this machine); ``lut`` a table that
    covers every op of ``space``; ``predictor`` one trained on ``space``;
    ``roofline`` always works. A search scoring thousands of candidates passes
    ``order=("lut", "predictor", "roofline")`` to skip timing each one.
    ``measure`` holds MeasuredLatency options (threads, warmup, repeats).
    """
    unknown = [s for s in order if s not in SOURCES]
    if unknown or not order:
        raise ValueError(f"unknown latency sources {unknown}; choose from {SOURCES}")
    ok = available_sources(profile, space, lut=lut, predictor=predictor)
    for src in order:
        if src not in ok:
            continue
        if src == "measured":
            from ..latency_measured import MeasuredLatency
            return MeasuredLatency(profile, space, **(measure or {}))
        if src == "lut":
            from ..latency_lut import LookupTableLatency
            assert lut is not None
            return LookupTableLatency(lut, space, profile)
        if src == "predictor":
            from .predictor import PredictorLatency
            assert predictor is not None
            return PredictorLatency(predictor, space, profile)
        if src == "roofline":
            from ..latency_roofline import RooflineLatency
            return RooflineLatency(profile, space)
    from ..latency_roofline import RooflineLatency
    return RooflineLatency(profile, space)


def latency_of_model(model: nn.Module, input_shape: Sequence[int], profile: "HardwareProfile", *,
                     lut: "LookupTable | None" = None, threads: int | None = 1, warmup: int = 5,
                     repeats: int = 20, cost: "ModelCost | None" = None, clock: str = "wall") -> LatencyEstimate:
    """The one entry point for a plain module on any profile.

    Measured on this machine when ``profile.measurable``; else the profile's
    lookup table when given and the module is a network of the table's space
    (built by ``space.build``, which records ``arch`` and ``space`` on it);
    else the roofline estimate from the profile's figures (``cost``: a
    ``profile_model`` result to reuse across profiles).
    """
    input_shape = tuple(int(s) for s in input_shape)
    if profile.measurable:
        from ..latency_measured import MeasuredLatency
        return MeasuredLatency(profile, threads=threads, warmup=warmup, repeats=repeats, clock=clock).estimate_model(
            model, input_shape)
    arch, space = getattr(model, "arch", None), getattr(model, "space", None)
    if lut is not None and arch is not None and space is not None and lut.covers(space):
        from ..latency_lut import LookupTableLatency, LutMissError
        try:
            return LookupTableLatency(lut, space, profile).estimate_arch(arch)
        except LutMissError:  # e.g. a classifier width the table was not built for
            pass
    from ..latency_roofline import RooflineLatency
    return RooflineLatency(profile).estimate_model(model, input_shape, cost=cost)
