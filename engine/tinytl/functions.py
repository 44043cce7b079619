"""Memory-efficient autograd functions for layers whose weights are frozen.

Stock PyTorch saves what a layer's *weight* gradient would need even when the
weight is frozen: a convolution keeps its input, a batch norm keeps its input,
a ReLU keeps its input or output. These functions keep only what the *input*
gradient (and a trainable bias) needs:

- :class:`FrozenConv2dFn`: saves the (frozen) weight only; the input gradient
  is ``torch.nn.grad.conv2d_input(input_shape, weight, grad_out)`` and a
  trainable bias needs only ``grad_out.sum((0, 2, 3))``. The weight may be
  held in int8 with a per-output-channel scale and dequantised on the fly.
- :class:`ChannelAffineFn`: a frozen batch norm folded to ``x * scale + shift``
  with a fixed scale and a trainable shift; it saves nothing (the scale is
  model state, not an activation).
- :class:`MaskedReLUFn`: ReLU / ReLU6 that saves a 1-bit mask packed into
  ``uint8`` (8 elements a byte) instead of its input or output.
- :class:`MeanPoolFn`: average pooling (kernel == stride, or global) that
  saves only the input's shape, where ``avg_pool2d`` keeps its whole input.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["pack_bits", "unpack_bits", "FrozenConv2dFn", "ChannelAffineFn", "MaskedReLUFn", "MeanPoolFn",
           "frozen_conv2d", "channel_affine", "masked_relu", "mean_pool", "quantize_per_channel"]

_SHIFTS = torch.arange(8, dtype=torch.uint8)


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """Pack a boolean tensor into ``uint8``, 8 elements per byte (little-endian bits)."""
    flat = mask.reshape(-1).to(torch.uint8)
    pad = (-flat.numel()) % 8
    if pad:
        flat = F.pad(flat, (0, pad))
    shifts = _SHIFTS.to(flat.device)
    return (flat.view(-1, 8) << shifts).sum(1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: a boolean tensor of ``shape``."""
    n = 1
    for s in shape:
        n *= int(s)
    shifts = _SHIFTS.to(packed.device)
    bits = (packed.unsqueeze(1) >> shifts) & 1
    return bits.reshape(-1)[:n].view(shape).bool()


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: ``weight ~= q * scale``."""
    flat = weight.detach().reshape(weight.shape[0], -1)
    scale = flat.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(flat / scale[:, None]).clamp_(-127, 127).to(torch.int8).view_as(weight)
    return q, scale.to(torch.float32)


def _weight(w: torch.Tensor, scale: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
    if scale is None:
        return w.to(dtype)
    return w.to(dtype) * scale.to(dtype).view(-1, *([1] * (w.dim() - 1)))


class FrozenConv2dFn(torch.autograd.Function):
    """``conv2d`` with a frozen weight; saves the weight only (never the input)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor | None,
                bias: torch.Tensor | None, stride: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int], groups: int) -> torch.Tensor:
        w = _weight(weight, scale, x.dtype)
        out = F.conv2d(x, w, bias, stride, padding, dilation, groups)
        ctx.input_shape = x.shape
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_scale = scale is not None
        # The weight (and its int8 scale) are model state, not activations.
        ctx.save_for_backward(weight, *((scale,) if scale is not None else ()))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor):
        saved = ctx.saved_tensors
        weight, scale = saved[0], (saved[1] if ctx.has_scale else None)
        stride, padding, dilation, groups = ctx.conf
        grad_x = grad_bias = None
        if ctx.needs_input_grad[0]:
            w = _weight(weight, scale, grad_out.dtype)
            grad_x = torch.nn.grad.conv2d_input(ctx.input_shape, w, grad_out, stride, padding, dilation, groups)
        if ctx.needs_input_grad[3]:
            grad_bias = grad_out.sum((0, 2, 3))
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            raise RuntimeError("FrozenConv2dFn: the weight is frozen and gets no gradient")
        return grad_x, None, None, grad_bias, None, None, None, None


class ChannelAffineFn(torch.autograd.Function):
    """``x * scale[c] + shift[c]`` with a fixed ``scale``; saves nothing but the scale (model state)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        ctx.save_for_backward(scale)
        ctx.reduce = (0,) + tuple(range(2, x.dim()))
        return torch.addcmul(shift.view(shape), x, scale.view(shape))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor):
        (scale,) = ctx.saved_tensors
        shape = (1, -1) + (1,) * (grad_out.dim() - 2)
        grad_x = grad_out * scale.view(shape) if ctx.needs_input_grad[0] else None
        grad_shift = grad_out.sum(ctx.reduce) if ctx.needs_input_grad[2] else None
        if ctx.needs_input_grad[1]:
            raise RuntimeError("ChannelAffineFn: the scale is frozen and gets no gradient")
        return grad_x, None, grad_shift


class MaskedReLUFn(torch.autograd.Function):
    """ReLU (``cap=None``) or ReLU6 (``cap=6``) keeping a packed 1-bit mask for backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, cap: float | None) -> torch.Tensor:
        if cap is None:
            mask = x > 0
            out = torch.relu(x)
        else:
            mask = (x > 0) & (x < cap)
            out = x.clamp(0.0, cap)
        ctx.shape = x.shape
        ctx.save_for_backward(pack_bits(mask))
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor):
        (packed,) = ctx.saved_tensors
        mask = unpack_bits(packed, ctx.shape)
        return grad_out * mask, None


class MeanPoolFn(torch.autograd.Function):
    """Average pooling with ``kernel == stride`` (``kernel=0``: global); saves only the shape."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernel: int) -> torch.Tensor:
        ctx.shape = x.shape
        ctx.kernel = kernel
        if kernel == 0:
            return x.mean((2, 3), keepdim=True)
        return F.avg_pool2d(x, kernel, kernel)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor):
        n, c, h, w = ctx.shape
        k = ctx.kernel
        if k == 0:
            return (grad_out / (h * w)).expand(n, c, h, w).contiguous(), None
        ho, wo = grad_out.shape[-2:]
        up = grad_out.repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k)
        if ho * k == h and wo * k == w:
            return up, None
        grad_x = grad_out.new_zeros((n, c, h, w))
        grad_x[:, :, : ho * k, : wo * k] = up
        return grad_x, None


def _plain() -> bool:
    """Nothing will be back-propagated (inference, an ONNX / TorchScript export):
    the same maths with stock ops, which exporters understand."""
    return not torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def frozen_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, *,
                  scale: torch.Tensor | None = None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  groups: int = 1) -> torch.Tensor:
    if _plain():
        return F.conv2d(x, _weight(weight, scale, x.dtype), bias, _pair(stride), _pair(padding), _pair(dilation),
                        groups)
    return FrozenConv2dFn.apply(x, weight, scale, bias, _pair(stride), _pair(padding), _pair(dilation), groups)


def channel_affine(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    if _plain():
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return torch.addcmul(shift.view(shape), x, scale.view(shape))
    return ChannelAffineFn.apply(x, scale, shift)


def masked_relu(x: torch.Tensor, cap: float | None = None) -> torch.Tensor:
    if _plain():
        return torch.relu(x) if cap is None else x.clamp(0.0, cap)
    return MaskedReLUFn.apply(x, cap)


def mean_pool(x: torch.Tensor, kernel: int = 0) -> torch.Tensor:
    if _plain():
        return x.mean((2, 3), keepdim=True) if kernel == 0 else F.avg_pool2d(x, kernel, kernel)
    return MeanPoolFn.apply(x, kernel)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))
