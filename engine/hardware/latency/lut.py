"""Lookup-table latency: the sum of a table's entries over an architecture's ops,
calibrated on whole measured networks when the table carries a calibration."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import torch
from torch import nn

from ..lut.table import LookupTable, LutMissError, key_with_bits
from .base import LatencyEstimate, LatencyEstimator

if TYPE_CHECKING:  # pragma: no cover
    from ...problems import Problem
    from ...spaces.base import OpSpec, SearchSpace
    from ..profile import HardwareProfile

__all__ = ["LookupTableLatency"]


class LookupTableLatency(LatencyEstimator):
    """Sum of the table's entries over an architecture's ops."""

    source = "lut"
    prices_ops = True

    def __init__(self, table: LookupTable, space: "SearchSpace | None" = None,
                 profile: "HardwareProfile | None" = None, *, problem: "Problem | None" = None,
                 bits: tuple[int, int] | None = None, calibrated: bool = True,
                 fallback: LatencyEstimator | None = None):
        super().__init__(profile, space, problem if problem is not None else table.problem, fallback=fallback)
        self.table = table
        self.bits = None if bits is None or tuple(bits) == (32, 32) else (int(bits[0]), int(bits[1]))
        cal = table.calibration if calibrated else None
        self.scale, self.offset = cal if cal is not None else (1.0, 0.0)
        self.per_op = table.per_op_ms if cal is not None else 0.0

    def _keys(self, arch: dict[str, Any], space: "SearchSpace | None" = None) -> list[str]:
        keys = (space or self._need_space()).op_keys(arch, self._need_problem())
        return keys if self.bits is None else [key_with_bits(k, self.bits) for k in keys]

    def op_ms(self, op: "OpSpec") -> float:
        """One op's entry, scaled by the calibration (no per-op or offset terms)."""
        return self.table.entry_ms(key_with_bits(op.key, self.bits)) * self.scale

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        return self._estimate(arch, self._need_space())

    def _estimate(self, arch: dict[str, Any], space: "SearchSpace") -> LatencyEstimate:
        keys = self._keys(space.validate(arch), space)
        raw = self.table.latency_ms(keys)
        spread = math.sqrt(sum(self.table.entries[k].error ** 2 for k in keys)) * self.scale
        calibrated = (self.scale, self.offset, self.per_op) != (1.0, 0.0, 0.0)
        return LatencyEstimate(raw * self.scale + self.per_op * len(keys) + self.offset, self.source, spread,
                               self.profile_name, {"ops": len(keys), "raw_sum_ms": raw, "calibrated": calibrated,
                                                   **({"bits": list(self.bits)} if self.bits else {})})

    def estimate_model(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                       **kwargs: Any) -> LatencyEstimate:
        """A network the space built (it records its ``arch``): the table's sum
        when every op has an entry; anything else goes to the fallback."""
        built = self.built_by_space(model)
        if built is not None and self._need_problem().kind in built[1].problem_kinds:
            try:
                return self._estimate(*built)
            except LutMissError:  # e.g. a classifier width the table was not built for
                pass
        return super().estimate_model(model, example_inputs, **kwargs)

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        keys = [self._keys(a) for a in archs]
        raw = np.array([self.table.latency_ms(k) for k in keys], dtype=np.float64)
        if self.per_op == 0.0:
            return raw * self.scale + self.offset
        return raw * self.scale + self.per_op * np.array([len(k) for k in keys], dtype=np.float64) + self.offset
