"""Roofline latency: for hardware not at hand, from the profile's figures.

Per layer: ``max(MACs / peak(w_bits, a_bits), bytes moved / bandwidth)`` plus the
profile's per-layer overhead, summed over layers. Bytes moved are the layer's
weights at ``w_bits`` plus its input and output activations at ``a_bits``. On a
bit-flexible profile (BitFusion-like) the peak scales with 1/(w x a) bricks.
Peak figures are upper bounds, so the roofline is an optimistic *estimate*;
it is always labelled ``roofline``.

On a GPU the peak needs every lane busy: a layer computes one output element
per thread, so one whose output has fewer elements than the profile's
``cores`` (CUDA cores on the datasheet) reaches only that fraction of the peak
(:func:`occupancy`). At batch 1 that is most layers of a small network, and
it is what makes a wider or larger-kernel op cost more there; without it the
per-layer overhead alone decides and every kernel/expand choice costs the same.

The estimate also says whether the network fits the device: weights within
``storage_mb`` (flash, when the profile has one) or ``memory_capacity_mb``, and
peak activations within ``memory_capacity_mb`` (SRAM on a microcontroller).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

import torch
from torch import nn

from ..cost import LayerCost, ModelCost, profile_model
from ..profile import HardwareProfile
from .base import LatencyEstimate, LatencyEstimator

if TYPE_CHECKING:  # pragma: no cover
    from ...problems import Problem
    from ...spaces.base import OpSpec, SearchSpace

__all__ = ["RooflineLatency", "roofline_layer_ms", "roofline_ms", "RooflineBreakdown", "fits_device", "occupancy",
           "GPU_KINDS"]

#: profile kinds whose peak is spread over ``cores`` lanes that a layer must fill
GPU_KINDS = ("gpu", "embedded-gpu")

Bits = tuple[float, float]


def roofline_layer_ms(layer: LayerCost, profile: HardwareProfile, w_bits: float = 32,
                      a_bits: float = 32) -> tuple[float, float, float]:
    """(compute ms, memory ms, total ms incl. overhead) of one layer."""
    if layer.is_free:
        return 0.0, 0.0, 0.0
    compute = layer.macs / (profile.peak_bits(w_bits, a_bits) * occupancy(layer, profile) * 1e9) * 1e3
    memory = layer.memory_bytes(w_bits, a_bits) / (profile.memory_bandwidth_gbs * 1e9) * 1e3
    return compute, memory, max(compute, memory) + profile.layer_overhead_us * 1e-3


def occupancy(layer: LayerCost, profile: HardwareProfile) -> float:
    """The fraction of the peak one layer can reach: on a GPU profile, its
    output elements (one thread each) over the profile's cores, at most 1;
    elsewhere 1 (a CPU's, an MCU's or an accelerator's loop nest reaches its
    peak on one layer)."""
    if profile.kind not in GPU_KINDS or profile.cores <= 1:
        return 1.0
    return min(1.0, max(1, int(layer.output_elems)) / profile.cores)


@dataclass(frozen=True)
class RooflineBreakdown:
    ms: float
    compute_ms: float
    memory_ms: float
    overhead_ms: float
    #: layers whose memory time exceeds their compute time
    memory_bound_layers: int
    layers: int


def roofline_ms(cost: ModelCost, profile: HardwareProfile, bits: Bits | Mapping[str, Bits] | None = None
                ) -> RooflineBreakdown:
    """Roofline of a profiled model; ``bits`` is one (weight, activation) pair
    for every layer or a mapping ``layer name → (w, a)`` (missing layers: 32/32;
    mixed precision as in HAQ)."""
    total = comp = mem = over = 0.0
    bound = n = 0
    for lc in cost.layers:
        if lc.is_free:
            continue
        if bits is None:
            wb, ab = 32.0, 32.0
        elif isinstance(bits, Mapping):
            wb, ab = bits.get(lc.name, (32.0, 32.0))
        else:
            wb, ab = bits
        c, m, t = roofline_layer_ms(lc, profile, wb, ab)
        total += t
        comp += c
        mem += m
        over += profile.layer_overhead_us * 1e-3
        bound += int(m > c)
        n += 1
    return RooflineBreakdown(total, comp, mem, over, bound, n)


def fits_device(cost: ModelCost, profile: HardwareProfile, w_bits: float = 32, a_bits: float = 32) -> dict[str, Any]:
    weights = cost.weight_bytes(w_bits)
    acts = cost.peak_activation_at(a_bits)
    cap = profile.memory_capacity_mb * 2**20
    store = profile.storage_mb * 2**20 if profile.storage_mb > 0 else cap
    reasons = []
    if weights > store:
        reasons.append(f"weights {weights / 2**10:.0f} KB exceed {'storage' if profile.storage_mb > 0 else 'memory'} "
                       f"{store / 2**10:.0f} KB")
    if acts + (0 if profile.storage_mb > 0 else weights) > cap:
        reasons.append(f"peak activations {acts / 2**10:.0f} KB exceed memory {cap / 2**10:.0f} KB")
    return {"fits_memory": not reasons, "weight_bytes": weights, "peak_activation_bytes": acts,
            "fit_reason": "; ".join(reasons)}


class RooflineLatency(LatencyEstimator):
    """Roofline estimates for architectures (per op, cached) or any module."""

    source = "roofline"
    prices_ops = True

    def __init__(self, profile: HardwareProfile, space: "SearchSpace | None" = None,
                 problem: "Problem | None" = None, *, w_bits: float = 32, a_bits: float = 32):
        super().__init__(profile, space, problem)
        self.w_bits, self.a_bits = float(w_bits), float(a_bits)
        self._op_cache: dict[str, tuple[float, ModelCost]] = {}

    def estimate_model(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...], *,
                       bits: Bits | Mapping[str, Bits] | None = None, cost: ModelCost | None = None
                       ) -> LatencyEstimate:
        """``cost``: a ``profile_model`` result to reuse across profiles."""
        assert self.profile is not None
        cost = cost or profile_model(model, example_inputs)
        pair = bits if bits is not None else (self.w_bits, self.a_bits)
        rb = roofline_ms(cost, self.profile, pair)
        wb, ab = (pair if not isinstance(pair, Mapping) else (32, 32))
        detail = {"compute_ms": rb.compute_ms, "memory_ms": rb.memory_ms, "overhead_ms": rb.overhead_ms,
                  "memory_bound_layers": rb.memory_bound_layers, "layers": rb.layers,
                  **fits_device(cost, self.profile, wb, ab)}
        return LatencyEstimate(rb.ms, self.source, None, self.profile_name, detail)

    def op_ms(self, op: "OpSpec") -> float:
        """The roofline of one op of the space alone (cached by its key)."""
        hit = self._op_cache.get(op.key)
        if hit is None:
            space = self._need_space()
            cost = profile_model(space.op_module(op), op.example_inputs())
            assert self.profile is not None
            hit = (roofline_ms(cost, self.profile, (self.w_bits, self.a_bits)).ms, cost)
            self._op_cache[op.key] = hit
        return hit[0]

    def estimate_ms_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        """Milliseconds of many architectures (a search's fast path, as the lookup
        table's): each op's roofline is priced once, then architectures are sums
        over their op keys, without building OpSpecs or re-validating."""
        space, problem = self._need_space(), self._need_problem()
        cache = self._op_cache
        out = []
        for arch in archs:
            keys = space.op_keys(arch, problem)
            if any(k not in cache for k in keys):
                for op in space.ops(arch, problem):
                    self.op_ms(op)
            out.append(sum(cache[k][0] for k in keys))
        return np.asarray(out, dtype=np.float64)

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        space = self._need_space()
        ops = space.ops(arch, self._need_problem())
        ms = sum(self.op_ms(op) for op in ops)
        costs = [self._op_cache[op.key][1] for op in ops]
        assert self.profile is not None
        weights = sum(c.params for c in costs) * self.w_bits / 8
        acts = max(c.peak_activation_at(self.a_bits) for c in costs)
        cap = self.profile.memory_capacity_mb * 2**20
        store = self.profile.storage_mb * 2**20 if self.profile.storage_mb > 0 else cap
        fits = weights <= store and acts + (0 if self.profile.storage_mb > 0 else weights) <= cap
        return LatencyEstimate(ms, self.source, None, self.profile_name,
                               {"ops": len(ops), "fits_memory": fits, "weight_bytes": weights,
                                "peak_activation_bytes": acts})
