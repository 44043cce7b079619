"""Static layers of the feature-aggregation space (``engine.spaces.aggregation``):
ResNet, DenseNet and SparseNet seen as one block with an aggregation rule
(Zhu et al., Sparsely Aggregated Convolutional Networks, ECCV 2018).

In a block, ``feats = [x0, y1, …, yi]`` holds the block input and every layer
output so far; layer ``i+1`` reads ``aggregate(fetch(feats))`` and the block
hands ``aggregate(fetch(feats))`` of all its layers to the transition.

- ``fetch``: ``all`` (every entry) or ``exp`` (the entries at offsets 1, 2, 4,
  8, … counted back from the newest, as SparseNet does);
- ``aggregate``: ``concat`` (channels pile up: DenseNet, SparseNet) or ``sum``
  (channels stay at the growth rate: ResNet's unrolled view ``x_i = x_0 + Σ y_j``);
  a sum block projects its input to the growth rate with a 1x1 convolution
  when the widths differ.

A layer is BN-ReLU-Conv3x3 (``growth`` out), or with the bottleneck (BC)
BN-ReLU-Conv1x1 (``4 * growth``)-BN-ReLU-Conv3x3. A transition is
BN-ReLU-Conv1x1 (``floor(compression * c)`` out)-AvgPool2.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["RULES", "RULE_TITLES", "fetch_indices", "AggregationLayer", "AggregationBlock", "Transition",
           "AggregationNet", "Aggregated", "Head", "layer_input_widths", "block_output_width"]

#: rule -> (fetch, aggregate)
RULES: dict[str, tuple[str, str]] = {
    "sum-all": ("all", "sum"),        # ResNet (sum of every earlier output)
    "concat-all": ("all", "concat"),  # DenseNet
    "concat-exp": ("exp", "concat"),  # SparseNet
    "sum-exp": ("exp", "sum"),        # sum at exponential offsets
}
RULE_TITLES: dict[str, str] = {
    "sum-all": "sum of all earlier outputs (ResNet)",
    "concat-all": "concatenate all earlier outputs (DenseNet)",
    "concat-exp": "concatenate outputs at offsets 1, 2, 4, 8, … (SparseNet)",
    "sum-exp": "sum of outputs at offsets 1, 2, 4, 8, …",
}


def fetch_indices(n: int, fetch: str) -> list[int]:
    """Which of ``n`` entries ``[x0, y1, …, y_{n-1}]`` are read: all of them, or
    those at offsets 1, 2, 4, … back from the newest (newest first)."""
    if fetch == "all":
        return list(range(n))
    out, off = [], 1
    while off <= n:
        out.append(n - off)
        off *= 2
    return out


def _widths(c0: int, growth: int, depth: int, rule: str) -> tuple[list[list[int]], int]:
    """Per layer the widths of the parts it reads, and the block output width."""
    fetch, agg = RULES[rule]
    first = growth if agg == "sum" else c0
    widths = [first]
    parts: list[list[int]] = []
    for _ in range(depth + 1):
        parts.append([widths[j] for j in fetch_indices(len(widths), fetch)])
        widths.append(growth)
    return parts, (growth if agg == "sum" else sum(parts[-1]))


def layer_input_widths(c0: int, growth: int, depth: int, rule: str) -> list[list[int]]:
    """For each layer of a block, the widths of the parts it aggregates (after a
    sum block's input projection)."""
    return _widths(c0, growth, depth, rule)[0][:depth]


def block_output_width(c0: int, growth: int, depth: int, rule: str) -> int:
    return _widths(c0, growth, depth, rule)[1]


def _bn_relu_conv(cin: int, cout: int, kernel: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(cin), nn.ReLU(inplace=False),
            nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False)]


class AggregationLayer(nn.Module):
    """Aggregate the parts it reads (concatenate or sum), then BN-ReLU-Conv3x3,
    or with the bottleneck BN-ReLU-Conv1x1-BN-ReLU-Conv3x3."""

    def __init__(self, parts: Sequence[int], growth: int, *, aggregate: str, bottleneck: bool):
        super().__init__()
        self.aggregate = aggregate
        cin = sum(parts) if aggregate == "concat" else int(parts[0])
        mods = (_bn_relu_conv(cin, 4 * growth, 1) + _bn_relu_conv(4 * growth, growth, 3)) if bottleneck \
            else _bn_relu_conv(cin, growth, 3)
        self.body = nn.Sequential(*mods)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return self.body(_aggregate(list(parts), self.aggregate))


def _aggregate(parts: list[torch.Tensor], how: str) -> torch.Tensor:
    if len(parts) == 1:
        return parts[0]
    if how == "concat":
        return torch.cat(parts, 1)
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


class AggregationBlock(nn.Module):
    """``depth`` layers, each reading ``aggregate(fetch(feats))``."""

    def __init__(self, c0: int, growth: int, depth: int, rule: str, *, bottleneck: bool):
        super().__init__()
        self.rule = rule
        self.fetch, self.aggregate = RULES[rule]
        self.proj = nn.Conv2d(c0, growth, 1, bias=False) if self.aggregate == "sum" and c0 != growth else None
        parts = layer_input_widths(c0, growth, depth, rule)
        self.layers = nn.ModuleList(AggregationLayer(p, growth, aggregate=self.aggregate, bottleneck=bottleneck)
                                    for p in parts)
        self.out_channels = block_output_width(c0, growth, depth, rule)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.proj(x) if self.proj is not None else x]
        for layer in self.layers:
            feats.append(layer(*[feats[j] for j in fetch_indices(len(feats), self.fetch)]))
        return _aggregate([feats[j] for j in fetch_indices(len(feats), self.fetch)], self.aggregate)


class Transition(nn.Sequential):
    """BN-ReLU-Conv1x1-AvgPool2 between blocks."""

    def __init__(self, cin: int, cout: int):
        super().__init__(*_bn_relu_conv(cin, cout, 1), nn.AvgPool2d(2))


class Aggregated(nn.Module):
    """``module(aggregate(parts))``: a transition or the head on a block's
    parts, one op of a latency lookup table."""

    def __init__(self, module: nn.Module, aggregate: str):
        super().__init__()
        self.module, self.aggregate = module, aggregate

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        return self.module(_aggregate(list(parts), self.aggregate))


class Head(nn.Sequential):
    """BN-ReLU, global average pooling, the linear classifier."""

    def __init__(self, cin: int, classes: int):
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                         nn.Linear(cin, classes))


class AggregationNet(nn.Module):
    """Stem conv3x3, blocks with transitions between them, BN-ReLU, global
    average pooling and a linear classifier."""

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], head_channels: int, classes: int,
                 arch: dict | None = None, space=None):
        super().__init__()
        self.stem = stem
        self.stages = nn.Sequential(*stages)
        self.head = Head(head_channels, classes)
        #: the architecture and space it was built from (latency lookup tables use them)
        self.arch, self.space = arch, space

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
