"""ProxylessNAS over the MBConv space: a super-net of mixed ops, the
differentiable expected latency from a lookup table, and the architecture step.

Per block slot the candidates are every (kernel, expand) MBConv block and, in
slots beyond a stage's minimum depth, the zero op (the block is skipped). The
derived network takes the most likely op per slot and is written in the
space's architecture format (zero ops dropped, so a stage's depth is its
number of non-zero blocks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.elastic_mixed import MixedOp, SharedMixedOp, Zero
from ..nn.mbconv import ClassifierHead, ConvBNAct, MBConvBlock
from ..problems import ImageClassification, Problem
from ..spaces.mbconv import MBConvNet, MBConvSpace

__all__ = ["WEIGHT_SHARING", "ProxylessSuperNet", "LatencyTable", "block_latency_table", "latency_loss", "ArchStep"]

#: (slot, op index) -> ms; one row per slot, a column per candidate (zero op last, 0 ms)
LatencyTable = list[list[float]]

#: separate: every candidate op has its own weights (the paper); elastic: the
#: (kernel, expand) candidates of a slot share one elastic block's weights
WEIGHT_SHARING = ("elastic", "separate")


class ProxylessSuperNet(nn.Module):
    def __init__(self, space: MBConvSpace, resolution: int, num_classes: int = 10, in_channels: int = 3,
                 weight_sharing: str = "elastic"):
        super().__init__()
        if resolution not in space.resolutions:
            raise ValueError(f"resolution {resolution} is not one of {space.resolutions}")
        if weight_sharing not in WEIGHT_SHARING:
            raise ValueError(f"weight_sharing must be one of {WEIGHT_SHARING}")
        self.weight_sharing = weight_sharing
        self.space, self.resolution = space, resolution
        self.num_classes, self.in_channels = num_classes, in_channels
        self.choices = [(k, e) for k in space.kernel_choices for e in space.expand_choices]
        self.min_depth = min(space.depth_choices)
        self.stem = ConvBNAct(in_channels, space.stem_width, 3, space.stem_stride)
        self.first_block = MBConvBlock(space.stem_width, space.stem_width, kernel=3, expand=1, stride=1)
        mixed: list[MixedOp] = []
        cin = space.stem_width
        for i, width in enumerate(space.widths):
            for j in range(space.max_depth):
                stride = space.strides[i] if j == 0 else 1
                zero = j >= self.min_depth
                if weight_sharing == "elastic":
                    mixed.append(SharedMixedOp(cin, width, choices=self.choices, stride=stride, zero=zero))
                else:
                    ops: list[nn.Module] = [MBConvBlock(cin, width, kernel=k, expand=e, stride=stride)
                                            for k, e in self.choices]
                    if zero:
                        ops.append(Zero())
                    mixed.append(MixedOp(ops))
                cin = width
        self.mixed = nn.ModuleList(mixed)
        self.feature_mix = ConvBNAct(space.widths[-1], space.head_width, 1)
        self.head = ClassifierHead(space.head_width, num_classes)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [m.alpha for m in self.mixed]

    def weight_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    def set_mode(self, mode: str) -> None:
        for m in self.mixed:
            m.mode = mode

    def binarize(self, rng: np.random.Generator, two: bool) -> None:
        for m in self.mixed:
            m.binarize(rng, two)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for m in self.mixed:
            x = m(x)
        return self.head(self.feature_mix(x))

    def probabilities(self) -> list[list[float]]:
        return [m.probs().detach().tolist() for m in self.mixed]

    def expected_latency(self, table: LatencyTable, fixed_ms: float = 0.0) -> torch.Tensor:
        """E[lat] = fixed + sum over slots of sum over ops p(op) x lat(op); differentiable in alpha."""
        total = torch.tensor(float(fixed_ms))
        for m, row in zip(self.mixed, table):
            total = total + (m.probs() * torch.tensor(row[:m.n], dtype=torch.float32)).sum()
        return total

    def op_name(self, slot: int, index: int) -> str:
        if index >= len(self.choices):
            return "zero"
        k, e = self.choices[index]
        return f"k{k}-e{e}"

    @property
    def problem(self) -> ImageClassification:
        """What the super-net eats and emits (the derived network's problem)."""
        return ImageClassification(channels=self.in_channels, size=self.resolution, classes=self.num_classes)

    def derived_arch(self, indices: list[int] | None = None) -> dict[str, Any]:
        """The most likely op per slot (or ``indices``) as a space architecture."""
        sp = self.space
        idx = indices if indices is not None else [int(torch.argmax(m.alpha)) for m in self.mixed]
        depths, kernels, expands = [], [], []
        for i in range(sp.n_stages):
            ks, es = [], []
            for j in range(sp.max_depth):
                c = idx[i * sp.max_depth + j]
                if c < len(self.choices):
                    ks.append(self.choices[c][0])
                    es.append(self.choices[c][1])
            depths.append(len(ks))
            pad = sp.max_depth - len(ks)
            kernels += ks + [sp.kernel_choices[0]] * pad
            expands += es + [sp.expand_choices[0]] * pad
        return sp.validate({"resolution": self.resolution, "depths": depths, "kernels": kernels,
                            "expands": expands})

    @torch.no_grad()
    def extract(self, indices: list[int] | None = None) -> tuple[dict[str, Any], MBConvNet]:
        """The derived architecture and its static network with the chosen ops' weights."""
        idx = indices if indices is not None else [int(torch.argmax(m.alpha)) for m in self.mixed]
        arch = self.derived_arch(idx)
        net = self.space.build(arch, self.problem)
        net.stem.load_state_dict(self.stem.state_dict())
        net.first_block.load_state_dict(self.first_block.state_dict())
        chosen = [self.mixed[s].static_op(c) for s, c in enumerate(idx) if c < len(self.choices)]
        for dst, src in zip(net.blocks, chosen):
            dst.load_state_dict(src.state_dict())
        net.feature_mix.load_state_dict(self.feature_mix.state_dict())
        net.head.load_state_dict(self.head.state_dict())
        return arch, net


def block_latency_table(space: MBConvSpace, net: ProxylessSuperNet,
                        op_ms: Callable[[str], float], *, problem: Problem) -> tuple[LatencyTable, float]:
    """Per slot, the latency of each candidate from ``op_ms(op_key)`` (a lookup
    table), and the fixed part (stem, first block, head)."""
    table: LatencyTable = [[0.0] * m.n for m in net.mixed]
    fixed = 0.0
    for c, (k, e) in enumerate(net.choices):
        arch = {"resolution": net.resolution, "depths": [space.max_depth] * space.n_stages,
                "kernels": [k] * space.n_slots, "expands": [e] * space.n_slots}
        keys = space.op_keys(arch, problem)
        block_keys = keys[2:2 + space.n_slots]
        for s, key in enumerate(block_keys):
            table[s][c] = float(op_ms(key))
        if c == 0:
            fixed = float(sum(op_ms(key) for key in keys[:2] + keys[2 + space.n_slots:]))
    return table, fixed


def latency_loss(ce: torch.Tensor, expected_ms: torch.Tensor, target_ms: float, *, mode: str = "mul",
                 beta: float = 0.3, lam: float = 0.1) -> torch.Tensor:
    """ProxylessNAS's combinations: ``CE x (log E[lat] / log T)^beta`` or ``CE + lambda x E[lat] / T``."""
    if mode == "mul":
        # log in units where the target is e (ratio > 0 even for sub-millisecond targets)
        ratio = torch.log(expected_ms / target_ms * np.e) / 1.0
        return ce * ratio.clamp_min(1e-6) ** beta
    if mode == "add":
        return ce + lam * expected_ms / target_ms
    raise ValueError("mode must be 'mul' or 'add'")


@dataclass
class ArchStep:
    """One architecture-parameter update on a validation batch (two paths per block)."""

    net: ProxylessSuperNet
    optimizer: torch.optim.Optimizer
    table: LatencyTable
    fixed_ms: float
    target_ms: float
    rng: np.random.Generator
    mode: str = "mul"
    beta: float = 0.3
    lam: float = 0.1

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        net = self.net
        net.binarize(self.rng, two=True)
        net.set_mode("arch")
        self.optimizer.zero_grad(set_to_none=True)
        logits = net(x)
        ce = F.cross_entropy(logits, y)
        expected = net.expected_latency(self.table, self.fixed_ms)
        loss = latency_loss(ce, expected, self.target_ms, mode=self.mode, beta=self.beta, lam=self.lam)
        # A second optimiser on a validation batch, interleaved with the weight
        # steps of engine.training.fit through its before_step hook.
        loss.backward()
        for m in net.mixed:
            m.accumulate_arch_grad()
        self.optimizer.step()
        net.set_mode("weight")
        for p in net.weight_parameters():
            p.grad = None
        return {"arch_loss": float(loss.detach()), "ce": float(ce.detach()), "expected_latency_ms": float(expected.detach())}
