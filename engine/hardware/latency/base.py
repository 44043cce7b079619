"""The interface every latency source shares.

    e = est.estimate(arch)                        # LatencyEstimate(ms=…, source="lut", spread_ms=…)
    e = est.estimate(model, example_inputs)       # a plain module, for sources that can
    ms = est.estimate_ms_many(archs)              # batched, milliseconds only (what searches call)
    metrics.update(e.as_metrics())                # latency_ms, latency_source, latency_spread_ms

Sources (``LatencyEstimate.source``, :data:`SOURCES`):

- ``measured``  – timed on the machine running the engine (``measured.MeasuredLatency``);
- ``lut``       – per-op lookup table summed over the ops (``lut.LookupTableLatency``);
- ``predictor`` – a small MLP on the architecture encoding (``predictor.PredictorLatency``);
- ``roofline``  – per layer max(compute, memory) + overhead from the profile's
  figures (``roofline.RooflineLatency``), always an estimate.

A source that cannot price a module (a table, a predictor: they know only the
architectures of their space) hands it to its ``fallback`` estimator, when it
has one. :func:`engine.hardware.latency.latency_for` picks the source.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from ...problems import Problem
    from ...spaces.base import OpSpec, SearchSpace
    from ..profile import HardwareProfile

__all__ = ["LatencyEstimate", "LatencyEstimator", "SOURCES"]

SOURCES = ("measured", "lut", "predictor", "roofline")


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
    """Latency of architectures of a search space (``estimate(arch)``) for a
    problem and, for sources that can (or through ``fallback``), of any module
    with its example inputs (``estimate(model, example_inputs)``)."""

    source: str = ""
    #: whether :meth:`op_ms` prices a single op (a table, the roofline)
    prices_ops: bool = False

    def __init__(self, profile: "HardwareProfile | None" = None, space: "SearchSpace | None" = None,
                 problem: "Problem | None" = None, *, fallback: "LatencyEstimator | None" = None):
        self.profile = profile
        self.space = space
        self.problem = problem
        self.fallback = fallback

    @property
    def profile_name(self) -> str:
        return self.profile.name if self.profile is not None else ""

    def estimate(self, arch_or_model: dict[str, Any] | nn.Module,
                 example_inputs: Sequence[torch.Tensor] | None = None, **kwargs: Any) -> LatencyEstimate:
        if isinstance(arch_or_model, nn.Module):
            if example_inputs is None:
                raise ValueError("example inputs are needed to estimate a module's latency "
                                 "(e.g. problem.example_inputs())")
            return self.estimate_model(arch_or_model, tuple(example_inputs), **kwargs)
        return self.estimate_arch(arch_or_model, **kwargs)

    @abstractmethod
    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate: ...

    def estimate_model(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                       **kwargs: Any) -> LatencyEstimate:
        """``model(*example_inputs)``'s latency; by default the fallback's."""
        if self.fallback is not None:
            return self.fallback.estimate_model(model, example_inputs, **kwargs)
        raise TypeError(f"the {self.source} source estimates architectures of a search space, not modules")

    def op_ms(self, op: "OpSpec") -> float:
        """Milliseconds of one op of the space alone (sources with ``prices_ops``)."""
        raise TypeError(f"the {self.source} source does not price single ops")

    def estimate_many(self, archs: Iterable[dict[str, Any]]) -> list[LatencyEstimate]:
        return [self.estimate_arch(a) for a in archs]

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        """Milliseconds only, as an array (the fast path searches call)."""
        return np.array([e.ms for e in self.estimate_many(archs)], dtype=np.float64)

    def _need_space(self) -> "SearchSpace":
        if self.space is None:
            raise ValueError(f"the {self.source} estimator was made without a search space")
        return self.space

    def _need_problem(self) -> "Problem":
        if self.problem is None:
            raise ValueError(f"the {self.source} estimator was made without a problem (engine.problems)")
        return self.problem

    def built_by_space(self, model: nn.Module) -> "tuple[dict[str, Any], SearchSpace] | None":
        """The architecture and space ``model`` was built from (``space.build``
        records both on the network) when the space is this estimator's (or
        the estimator has none), else None."""
        arch, space = getattr(model, "arch", None), getattr(model, "space", None)
        if not isinstance(arch, dict) or space is None or not hasattr(space, "op_keys"):
            return None
        if self.space is not None and space is not self.space and \
                (space.name, space.params()) != (self.space.name, self.space.params()):
            return None
        return arch, space

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(profile={self.profile_name!r}, space={getattr(self.space, 'name', None)!r}, "
                f"problem={self.problem!r})")
