"""The MBConv super-net: every architecture of an :class:`MBConvSpace` shares
one set of weights (once-for-all's elastic kernel, expand ratio and depth;
resolution is elastic because the network is fully convolutional).

``extract(arch)`` returns the static :class:`~engine.spaces.mbconv.MBConvNet`
that ``space.build(arch)`` builds, carrying the super-net's weights, so that
its output equals the super-net's output for that architecture.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.elastic import ElasticMBConv
from ..nn.mbconv import ClassifierHead, ConvBNAct, MBConvBlock
from ..problems import ImageClassification
from ..spaces.mbconv import MBConvNet, MBConvSpace

__all__ = ["MBConvSuperNet", "largest_arch", "smallest_arch"]


def largest_arch(space: MBConvSpace, resolution: int | None = None) -> dict[str, Any]:
    return {"resolution": resolution or space.resolutions[-1], "depths": [space.max_depth] * space.n_stages,
            "kernels": [space.kernel_choices[-1]] * space.n_slots,
            "expands": [space.expand_choices[-1]] * space.n_slots}


def smallest_arch(space: MBConvSpace, resolution: int | None = None) -> dict[str, Any]:
    return {"resolution": resolution or space.resolutions[0], "depths": [space.depth_choices[0]] * space.n_stages,
            "kernels": [space.kernel_choices[0]] * space.n_slots,
            "expands": [space.expand_choices[0]] * space.n_slots}


class MBConvSuperNet(nn.Module):
    """Weight-shared super-net of ``space``. ``set_active(arch)`` picks the
    sub-net the next forward runs; inputs must already be at ``arch["resolution"]``
    (see :meth:`resize`)."""

    def __init__(self, space: MBConvSpace, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.space, self.num_classes, self.in_channels = space, num_classes, in_channels
        self.stem = ConvBNAct(in_channels, space.stem_width, 3, space.stem_stride)
        self.first_block = MBConvBlock(space.stem_width, space.stem_width, kernel=3, expand=1, stride=1)
        blocks = []
        cin = space.stem_width
        for i, width in enumerate(space.widths):
            for j in range(space.max_depth):
                blocks.append(ElasticMBConv(cin, width, kernels=space.kernel_choices, expands=space.expand_choices,
                                            stride=space.strides[i] if j == 0 else 1))
                cin = width
        self.blocks = nn.ModuleList(blocks)
        self.feature_mix = ConvBNAct(space.widths[-1], space.head_width, 1)
        self.head = ClassifierHead(space.head_width, num_classes)
        self.active: dict[str, Any] = largest_arch(space)
        self.set_active(self.active)

    @property
    def problem(self) -> ImageClassification:
        """What its sub-nets eat and emit (images at the space's largest resolution)."""
        return ImageClassification(channels=self.in_channels, size=max(self.space.resolutions),
                                   classes=self.num_classes)

    # -- choosing a sub-net ----------------------------------------------------
    def set_active(self, arch: dict[str, Any]) -> None:
        arch = self.space.validate(arch)
        for s in self.space.active_slots(arch):
            self.blocks[s].set_active(arch["kernels"][s], arch["expands"][s])
        self.active = arch

    def resize(self, x: torch.Tensor, resolution: int | None = None) -> torch.Tensor:
        """Resize a batch to the active (or given) resolution."""
        r = resolution or self.active["resolution"]
        if x.shape[-1] == r and x.shape[-2] == r:
            return x
        return F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False, antialias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for s in self.space.active_slots(self.active):
            x = self.blocks[s](x)
        return self.head(self.feature_mix(x))

    # -- handing out static sub-nets -------------------------------------------
    @torch.no_grad()
    def extract(self, arch: dict[str, Any] | None = None) -> MBConvNet:
        """The static network of ``arch`` (default: the active one) with the
        super-net's weights; its state dict matches ``space.build(arch)``."""
        arch = self.space.validate(arch) if arch is not None else self.active
        blocks = [self.blocks[s].extract(arch["kernels"][s], arch["expands"][s])
                  for s in self.space.active_slots(arch)]
        net = MBConvNet(stem=copy.deepcopy(self.stem), first_block=copy.deepcopy(self.first_block), blocks=blocks,
                        feature_mix=copy.deepcopy(self.feature_mix), head=copy.deepcopy(self.head),
                        resolution=arch["resolution"])
        net.train(self.training)
        return net

    def describe(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this super-net."""
        return {"space": self.space.params(), "num_classes": self.num_classes, "in_channels": self.in_channels}

    @classmethod
    def from_description(cls, d: dict[str, Any]) -> "MBConvSuperNet":
        return cls(MBConvSpace(**d["space"]), num_classes=int(d["num_classes"]), in_channels=int(d["in_channels"]))
