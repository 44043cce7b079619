"""Modules around the memory-efficient functions, and a stock frozen batch norm.

:class:`FrozenConv2d` holds a frozen weight (fp32 or int8 with a per-channel
scale) and an optional bias that may be trainable; a batch norm with frozen
statistics and frozen scale can be folded into it (``from_conv``).
:class:`FrozenBatchNorm2d` is a batch norm folded to a fixed scale and a shift.
:class:`MaskedReLU` keeps a 1-bit mask; :class:`MeanPool` keeps only shapes.
:class:`EvalBatchNorm2d` is the *stock* counterpart used to show what plain
PyTorch saves: a batch norm that always uses its running statistics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .functions import channel_affine, frozen_conv2d, masked_relu, mean_pool, quantize_per_channel

__all__ = ["FrozenConv2d", "FrozenBatchNorm2d", "MaskedReLU", "MeanPool", "EvalBatchNorm2d", "bn_scale_shift"]


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch norm in eval mode as ``x * scale + shift`` (per channel)."""
    mean = bn.running_mean if bn.running_mean is not None else torch.zeros(bn.num_features)
    var = bn.running_var if bn.running_var is not None else torch.ones(bn.num_features)
    inv = torch.rsqrt(var.detach().double() + bn.eps)
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(inv)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(inv)
    scale = gamma * inv
    return scale.float(), (beta - mean.detach().double() * scale).float()


class FrozenConv2d(nn.Module):
    """A convolution whose weight is frozen; autograd saves the weight only."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, stride, padding, dilation,
                 groups: int, bias_trainable: bool = True, int8: bool = False):
        super().__init__()
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.out_channels, self.in_channels = weight.shape[0], weight.shape[1] * groups
        self.kernel_size = tuple(weight.shape[2:])
        if int8:
            q, s = quantize_per_channel(weight)
            self.register_buffer("weight", q)
            self.register_buffer("weight_scale", s)
        else:
            self.register_buffer("weight", weight.detach().clone())
            self.weight_scale = None
        if bias is not None:
            self.bias = nn.Parameter(bias.detach().clone(), requires_grad=bias_trainable)
        else:
            self.bias = None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None, *, bias_trainable: bool = True,
                  int8: bool = False) -> "FrozenConv2d":
        """Freeze ``conv``; fold ``bn`` (with frozen statistics and scale) into it when given.
        The folded bias is ``bn``'s shift, trainable when ``bias_trainable``."""
        if isinstance(conv.padding, str):
            raise ValueError("string padding is not supported; give explicit padding")
        w = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else None
        if bn is not None:
            scale, shift = bn_scale_shift(bn)
            w = w * scale.view(-1, 1, 1, 1)
            bias = shift + (bias * scale if bias is not None else 0.0)
        return cls(w, bias, stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                   bias_trainable=bias_trainable, int8=int8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return frozen_conv2d(x, self.weight, self.bias, scale=self.weight_scale, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, groups=self.groups)

    def cost_macs(self, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, dict]:
        """For the cost model: a convolution's MACs."""
        k = 1
        for v in self.kernel_size:
            k *= int(v)
        return out.numel() * (self.in_channels // self.groups) * k, {
            "kernel": self.kernel_size[0], "stride": _first(self.stride), "groups": self.groups,
            "cin": self.in_channels, "cout": self.out_channels}

    def cost_params(self) -> int:
        """For the cost model: the frozen weight, kept as a buffer (the bias is a parameter)."""
        return self.weight.numel()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"groups={self.groups}, int8={self.weight_scale is not None}, bias={self.bias is not None}")


def _first(v) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


class FrozenBatchNorm2d(nn.Module):
    """A batch norm folded to a fixed per-channel scale and a (trainable) shift; saves nothing."""

    def __init__(self, bn: nn.BatchNorm2d, *, shift_trainable: bool = True):
        super().__init__()
        scale, shift = bn_scale_shift(bn)
        self.register_buffer("scale", scale)
        self.shift = nn.Parameter(shift, requires_grad=shift_trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_affine(x, self.scale, self.shift)

    def cost_macs(self, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, dict]:
        return out.numel(), {}

    def cost_params(self) -> int:
        return self.scale.numel()


class MaskedReLU(nn.Module):
    """ReLU (``cap=None``) or ReLU6 (``cap=6``) that saves a packed 1-bit mask."""

    def __init__(self, cap: float | None = None):
        super().__init__()
        self.cap = cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return masked_relu(x, self.cap)

    def extra_repr(self) -> str:
        return f"cap={self.cap}"


class MeanPool(nn.Module):
    """Average pooling (``kernel=0``: global, keeping dims) that saves only the input shape."""

    def __init__(self, kernel: int = 0):
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mean_pool(x, self.kernel)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class EvalBatchNorm2d(nn.BatchNorm2d):
    """Stock batch norm that always normalises with its running statistics (frozen stats)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    @classmethod
    def from_bn(cls, bn: nn.BatchNorm2d) -> "EvalBatchNorm2d":
        out = cls(bn.num_features, eps=bn.eps, affine=bn.affine)
        out.load_state_dict(bn.state_dict())
        if bn.affine:
            out.weight.requires_grad_(bn.weight.requires_grad)
            out.bias.requires_grad_(bn.bias.requires_grad)
        return out
