"""TinyTL's lite residual module, placed beside each inverted residual block.

The block's input is average-pooled by ``downsample`` (2x), passed through a
kxk group convolution (k=5, 2 groups, expand 1, the block's stride), a norm, a
ReLU, a 1x1 convolution to the block's output channels and a norm whose weight
starts at zero; the result is upsampled (bilinear) to the block's output size
and added to it. With the zero-initialised norm the module adds exactly zero at
first, so the pre-trained network's function is unchanged. Working at half the
resolution with no 6x expansion is what keeps its activations small (the paper:
3.8% memory overhead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.nn import MBConvBlock

__all__ = ["LiteSpec", "LiteResidual", "LiteResidualBlock", "attach_lite_residuals", "block_io", "BLOCK_TYPES"]

#: the inverted residual blocks a lite residual goes beside: :class:`engine.nn.MBConvBlock`, the block of
#: TinyTL's MobileNet and of the search spaces' static networks (a super-net's extracted sub-net). Other
#: networks pass their block class to :func:`attach_lite_residuals` (e.g. torchvision's
#: ``torchvision.models.mobilenetv2.InvertedResidual``).
BLOCK_TYPES: tuple[type[nn.Module], ...] = (MBConvBlock,)


@dataclass(frozen=True)
class LiteSpec:
    kernel: int = 5
    groups: int = 2
    expand: float = 1.0
    downsample: int = 2
    #: channels per group of the GroupNorm layers (GroupNorm works at batch size 1)
    norm_group_channels: int = 8
    #: leave the first block (at the stem's resolution, the costliest place for
    #: stored activations) without one, as the reference implementation does
    skip_first: bool = True


def _norm(channels: int, spec: LiteSpec) -> nn.GroupNorm:
    groups = max(1, math.gcd(channels, max(1, channels // spec.norm_group_channels)))
    return nn.GroupNorm(groups, channels)


class LiteResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, spec: LiteSpec = LiteSpec(),
                 generator: torch.Generator | None = None, *, kernel: int | None = None):
        super().__init__()
        mid = max(1, int(round(cin * spec.expand)))
        groups = spec.groups if cin % spec.groups == 0 and mid % spec.groups == 0 else 1
        k = spec.kernel if kernel is None else kernel
        self.downsample = spec.downsample
        self.pool = nn.AvgPool2d(spec.downsample, spec.downsample) if spec.downsample > 1 else nn.Identity()
        self.conv1 = nn.Conv2d(cin, mid, k, stride, k // 2, groups=groups, bias=False)
        self.norm1 = _norm(mid, spec)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(mid, cout, 1, bias=False)
        self.norm2 = _norm(cout, spec)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", generator=generator)
        nn.init.zeros_(self.norm2.weight)  # starts as a zero contribution

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if min(x.shape[-2:]) >= self.downsample:
            x = self.pool(x)
        y = self.norm2(self.conv2(self.act(self.norm1(self.conv1(x)))))
        if tuple(y.shape[-2:]) != tuple(size):
            y = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=False)
        return y


class LiteResidualBlock(nn.Module):
    """``block(x) + lite(x)``: the frozen block with its learnable lite residual."""

    def __init__(self, block: nn.Module, lite: LiteResidual):
        super().__init__()
        self.block = block
        self.lite = lite

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + self.lite(x, out.shape[-2:])


def block_io(block: nn.Module) -> tuple[int, int, int]:
    """(in channels, out channels, stride) of a block, read from its convolutions."""
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("block has no convolution")
    stride = max(int(c.stride[0]) for c in convs)
    return convs[0].in_channels, convs[-1].out_channels, stride


def _kernel_for(spec: LiteSpec, resolution: int | None) -> int:
    """The largest odd kernel <= ``spec.kernel`` that fits the pooled resolution."""
    if resolution is None:
        return spec.kernel
    pooled = resolution // spec.downsample if resolution >= spec.downsample else resolution
    k = spec.kernel
    while k > 1 and k > pooled:
        k -= 2
    return max(1, k)


def attach_lite_residuals(model: nn.Module, spec: LiteSpec = LiteSpec(), *,
                          input_shape: tuple[int, int, int] | None = None,
                          generator: torch.Generator | None = None,
                          block_types: tuple[type[nn.Module], ...] = BLOCK_TYPES) -> int:
    """Wrap the inverted residual blocks of ``model`` (instances of ``block_types``:
    TinyTL's MobileNet or a static MBConv network by default) in
    :class:`LiteResidualBlock`, in place; returns the count. With ``input_shape``
    (C, H, W) the kernel shrinks where the pooled feature map is smaller than it."""
    blocks = [(parent, name, child) for parent in model.modules() if not isinstance(parent, LiteResidualBlock)
              for name, child in parent.named_children() if isinstance(child, block_types)]
    if spec.skip_first:
        blocks = blocks[1:]
    sizes: dict[int, int] = {}
    if input_shape is not None and blocks:
        hooks = [b.register_forward_pre_hook(lambda m, a: sizes.__setitem__(id(m), int(a[0].shape[-1])))
                 for _, _, b in blocks]
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                p = next(model.parameters())
                model(torch.zeros((1, *input_shape), device=p.device, dtype=p.dtype))
        finally:
            for h in hooks:
                h.remove()
            model.train(was)
    for parent, name, child in blocks:
        cin, cout, stride = block_io(child)
        lite = LiteResidual(cin, cout, stride, spec, generator, kernel=_kernel_for(spec, sizes.get(id(child))))
        setattr(parent, name, LiteResidualBlock(child, lite))
    return len(blocks)
