"""HAQ's quantisation environment (reference: mit-han-lab/haq
``lib/env/linear_quantize_env.py``): two steps per layer (weight bits, then
activation bits); the 10-feature state (index, depthwise, input and output
channels, stride, kernel, weight size, input area, previous action, weight or
activation step), the static features min-max normalised; an action in
[0, 1] mapped to ``min_bits..max_bits``; the first and last layers kept at 8
bits; the budget enforced after the episode by lowering bits from the last
layer back until it holds.

The cost of a policy comes from the latency layer's roofline with per-layer
bits (:func:`engine.hardware.latency.roofline.roofline_ms`: a bit-flexible
profile gets faster as bits shrink, an int8-only CPU does not below 8 bits)
over the conv and linear layers (norms and activations fused into them, as
HAQ's simulator counts) — an estimate, labelled ``roofline`` — or the model
size in bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..hardware.cost import ModelCost
from ..hardware.latency.roofline import roofline_ms
from ..search.agents import Transition
from .quant import LayerInfo

__all__ = ["QuantEnv", "RESOURCES", "STATE_DIM", "policy_cost", "load_cost_table", "estimated_cost_table",
           "write_layer_list"]

RESOURCES = ("latency", "energy", "size")
#: energy per operation, 45 nm (Horowitz, "Computing's energy problem", ISSCC 2014): an 8-bit integer
#: multiply-add about 0.23 pJ (0.2 + 0.03), scaled with the product of the operand widths as a
#: bit-serial / bit-fusion array spends it; a DRAM access about 640 pJ per 32 bits (20 pJ per bit)
E_MAC_8X8_PJ = 0.23
E_DRAM_PJ_PER_BIT = 20.0
#: the source label of an energy figure (an estimate: see ``engine.metrics.ESTIMATE_SOURCES``)
ENERGY_SOURCE = "energy-model"
STATE_DIM = 10


def policy_cost(cost: ModelCost, layers: Sequence[LayerInfo], policy: Sequence[tuple[int, int]], profile: Any,
                resource: str, table: np.ndarray | None = None) -> float:
    """Milliseconds on ``profile`` (roofline with bits over the conv and linear
    layers, or the per-layer ``table`` when one is given) or bytes of weights."""
    if resource == "size":
        return float(sum(info.weight_size * wb / 8 for info, (wb, _) in zip(layers, policy)))
    if resource == "energy":  # microjoules: MACs at the operand widths, weights and activations from DRAM
        by = {lc.name: lc for lc in cost.layers}
        pj = 0.0
        for info, (wb, ab) in zip(layers, policy):
            lc = by[info.name]
            pj += lc.macs * E_MAC_8X8_PJ * (wb * ab) / 64.0 + lc.memory_bytes(wb, ab) * 8 * E_DRAM_PJ_PER_BIT
        return pj * 1e-6
    if table is not None:
        return float(sum(table[i, min(wb, 8) - 1, min(ab, 8) - 1] for i, (wb, ab) in enumerate(policy)))
    bits = {info.name: (float(wb), float(ab)) for info, (wb, ab) in zip(layers, policy)}
    return float(roofline_ms(_conv_only(cost, bits), profile, bits).ms)


def _conv_only(cost: ModelCost, bits: dict) -> ModelCost:
    """The conv and linear layers alone: an accelerator fuses batch norms and
    activations into them (HAQ's simulator prices these layers only)."""
    import dataclasses

    return dataclasses.replace(cost, layers=[lc for lc in cost.layers if lc.name in bits])


@dataclass
class QuantEnv:
    cost: ModelCost
    layers: list[LayerInfo]
    profile: Any
    resource: str = "latency"
    #: fraction of the all-8-bit network's cost the policy may use
    budget: float = 0.6
    min_bits: int = 2
    max_bits: int = 8
    #: a measured or uploaded per-layer latency table (layers x 8 x 8, ms) instead of the roofline
    table: np.ndarray | None = None
    _static: np.ndarray = field(init=False, repr=False)
    reference: float = field(init=False)

    def __post_init__(self) -> None:
        if self.resource not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}")
        if not 1 <= self.min_bits < self.max_bits <= 8:
            raise ValueError("bits: 1 <= min_bits < max_bits <= 8")
        f = np.array([[x.index, x.depthwise, x.in_channels, x.out_channels, x.stride, x.kernel, x.weight_size,
                       x.in_area] for x in self.layers], dtype=np.float64)
        lo, hi = f.min(0), f.max(0)
        self._static = (f - lo) / np.where(hi > lo, hi - lo, 1.0)
        self.reference = self.price(self.uniform(8))
        floor = self.price(self.uniform(self.min_bits))
        if floor > self.budget * self.reference + 1e-12:
            raise ValueError(f"the budget of {self.budget:.0%} of the 8-bit network's {self.resource} cannot be met: "
                             f"{self.min_bits} bits everywhere (first and last layers at 8) still needs "
                             f"{floor / self.reference:.0%}")

    @property
    def fixed(self) -> set[int]:
        return {0, len(self.layers) - 1}

    def price(self, policy: Sequence[tuple[int, int]]) -> float:
        return policy_cost(self.cost, self.layers, policy, self.profile, self.resource, self.table)

    def fraction(self, policy: Sequence[tuple[int, int]]) -> float:
        return self.price(policy) / self.reference

    def uniform(self, bits: int) -> list[tuple[int, int]]:
        return [(8, 8) if i in self.fixed else (bits, bits) for i in range(len(self.layers))]

    def bits_of(self, action: float) -> int:
        b = int(round(self.min_bits - 0.5 + float(action) * (self.max_bits - self.min_bits + 1)))
        return int(np.clip(b, self.min_bits, self.max_bits))

    def state(self, i: int, weight_step: bool, prev: float) -> np.ndarray:
        return np.concatenate([self._static[i], [prev, 1.0 if weight_step else 0.0]]).astype(np.float32)

    def enforce(self, policy: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Lower bits from the last layer back (weights, then activations) until the budget holds."""
        p = [list(x) for x in policy]
        target = self.budget * self.reference
        while self.price([tuple(x) for x in p]) > target:
            changed = False
            for i in reversed(range(len(p))):
                if i in self.fixed:
                    continue
                for k in (0, 1):
                    if p[i][k] > self.min_bits:
                        p[i][k] -= 1
                        changed = True
                        if self.price([tuple(x) for x in p]) <= target:
                            return [tuple(x) for x in p]  # type: ignore[misc]
            if not changed:
                break
        return [tuple(x) for x in p]  # type: ignore[misc]

    def episode(self, act: Callable[[np.ndarray, int], float]) -> tuple[list[tuple[int, int]], list[Transition]]:
        """One pass: ``act(state, step)`` gives weight then activation actions per layer."""
        states, actions, policy = [], [], []
        prev = 1.0
        step = 0
        for i in range(len(self.layers)):
            pair = []
            for weight_step in (True, False):
                s = self.state(i, weight_step, prev)
                a = float(np.clip(act(s, step), 0.0, 1.0))
                states.append(s)
                actions.append(a)
                pair.append(8 if i in self.fixed else self.bits_of(a))
                prev = a
                step += 1
            policy.append((pair[0], pair[1]))
        n = len(states)
        transitions = [Transition(states[t], np.array([actions[t]], np.float32),
                                  states[t + 1] if t + 1 < n else np.zeros(STATE_DIM, np.float32), t + 1 == n)
                       for t in range(n)]
        return self.enforce(policy), transitions


def load_cost_table(path: str, layers: Sequence[LayerInfo]) -> np.ndarray:
    """A per-layer latency table in the reference code's layout: a NumPy array
    of shape (layers, 8, 8), ``[layer, w_bits - 1, a_bits - 1]`` in ms, read
    with pickles refused; its layer count must match the network's conv and
    linear layers and every cost be finite and non-negative."""
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"cost_table: not a plain .npy array ({str(e)[:200]})") from None
    if table.ndim != 3 or table.shape[1:] != (8, 8):
        raise ValueError(f"cost_table: shape {table.shape}; the reference layout is (layers, 8, 8)")
    if table.shape[0] != len(layers):
        raise ValueError(f"cost_table: {table.shape[0]} layers, but the network has {len(layers)} conv and linear "
                         "layers")
    if not np.issubdtype(table.dtype, np.number) or not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError("cost_table: every cost must be a finite number >= 0")
    return table.astype(np.float64)


def estimated_cost_table(cost: ModelCost, layers: Sequence[LayerInfo], profile: Any) -> np.ndarray:
    """The reference layout filled with this profile's roofline estimate: each
    conv / linear layer priced alone at every (weight bits, activation bits),
    ``[layer, w_bits - 1, a_bits - 1]`` in ms. A starting point for a measured
    table: same shape, same layer order (:func:`write_layer_list`); replace
    each entry by the time measured on the device and upload it."""
    out = np.zeros((len(layers), 8, 8), dtype=np.float64)
    for i, info in enumerate(layers):
        for w in range(1, 9):
            for a in range(1, 9):
                bits = {info.name: (float(w), float(a))}
                out[i, w - 1, a - 1] = roofline_ms(_conv_only(cost, bits), profile, bits).ms
    return out


def write_layer_list(path: Any, cost: ModelCost, layers: Sequence[LayerInfo]) -> None:
    """The rows of a cost table, in order: which conv / linear layer row ``i``
    of the (layers, 8, 8) array must time (name, shape, stride, MACs)."""
    import csv

    by = {lc.name: lc for lc in cost.layers}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "layer", "depthwise", "in_channels", "out_channels", "kernel", "stride",
                    "input_area", "weights", "macs"])
        for i, info in enumerate(layers):
            lc = by.get(info.name)
            w.writerow([i, info.name, int(info.depthwise), info.in_channels, info.out_channels, info.kernel,
                        info.stride, info.in_area, info.weight_size, lc.macs if lc is not None else ""])
