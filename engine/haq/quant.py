"""Mixed-precision fake quantisation: per layer, weights and activations
separately, 2 to 8 bits.

- ``linear``: symmetric for weights, unsigned for non-negative activations
  (after ReLU), with a clipping threshold; below 5 bits the threshold is the
  one whose quantised histogram is closest to the original in KL divergence
  (the reference's choice), else the largest magnitude.
- ``kmeans``: weight sharing, 2^bits centroids per layer (scikit-learn's
  KMeans), activations linear.

The straight-through estimator passes gradients through the rounding, so the
quantised network fine-tunes with the shared training loop (quantisation-aware
training). :func:`quantize` returns a copy with each conv / linear layer
wrapped; :func:`quantizable_layers` lists them in execution order.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["QuantLayer", "quantize", "quantizable_layers", "fake_quant", "kl_threshold", "MODES", "LayerInfo"]

MODES = ("linear", "kmeans")


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return x + (q - x).detach()


def fake_quant(x: torch.Tensor, bits: int, clip: float | torch.Tensor, signed: bool) -> torch.Tensor:
    """Linear quantisation to ``bits`` within ``[-clip, clip]`` (signed) or
    ``[0, clip]``, with the straight-through estimator; ``clip`` may be one
    value per output channel (a tensor of ``x.shape[0]`` values)."""
    if bits >= 32:
        return x
    if isinstance(clip, torch.Tensor) and clip.dim() == 1:
        clip = clip.clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    elif float(clip) <= 0:
        return x
    levels = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    scale = clip / max(levels, 1)
    lo = -levels if signed else 0
    q = torch.clamp(torch.round(x / scale), lo, levels) * scale
    return _ste(x, q)


def kl_threshold(values: np.ndarray, bits: int, *, bins: int = 2048) -> float:
    """The clipping threshold of |values| whose ``bits``-bit quantisation keeps
    the histogram closest in KL divergence (TensorRT's entropy calibration).
    A small layer gets fewer bins (about 16 values each) and thresholds below
    the median |value| are not tried: with a few hundred weights the sparse
    histogram otherwise favours clipping almost everything."""
    a = np.abs(values.ravel())
    top = float(a.max()) if a.size else 0.0
    if top == 0.0:
        return 0.0
    bins = int(min(bins, max(128, a.size // 16)))
    hist, edges = np.histogram(a, bins=bins, range=(0.0, top))
    levels = 2 ** (bits - 1)
    start = max(levels, int(np.searchsorted(edges, np.median(a))))
    best, best_kl = top, math.inf
    for i in range(start, bins + 1, max(1, bins // 128)):
        h = hist[:i].astype(np.float64)
        p = h.copy()
        p[i - 1] += hist[i:].sum()  # the reference: what is clipped lands in the last bin
        if p.sum() == 0:
            continue
        # the candidate: the kept bins merged into `levels` buckets, each spread back over its non-empty bins
        q = np.zeros(i)
        for c in np.array_split(np.arange(i), levels):
            nz = h[c] > 0
            if nz.any():
                q[c[nz]] = h[c].sum() / nz.sum()
        pn, qn = p / p.sum(), q / max(q.sum(), 1e-12)
        m = pn > 0
        kl = float(np.sum(pn[m] * np.log(pn[m] / np.maximum(qn[m], 1e-12))))
        if kl < best_kl:
            best, best_kl = float(edges[i]), kl
    return best


@dataclass(frozen=True)
class LayerInfo:
    """A quantisable layer: what HAQ's state describes."""

    index: int
    name: str
    depthwise: bool
    in_channels: int
    out_channels: int
    stride: int
    kernel: int
    weight_size: int
    in_area: int  # input feature-map height x width (1 for a linear layer)


class QuantLayer(nn.Module):
    """A conv or linear layer with its weight and its input quantised."""

    def __init__(self, layer: nn.Module, w_bits: int, a_bits: int, *, mode: str = "linear", per_channel: bool = False):
        super().__init__()
        self.layer, self.w_bits, self.a_bits, self.mode = layer, int(w_bits), int(a_bits), mode
        self.per_channel = per_channel
        self.register_buffer("a_clip", torch.zeros(()))
        self.register_buffer("a_signed", torch.zeros((), dtype=torch.bool))
        out = layer.weight.shape[0]
        self.register_buffer("w_clip", torch.zeros(out) if per_channel else torch.zeros(()))
        self.register_buffer("centroids", torch.zeros(2 ** self.w_bits if mode == "kmeans" else 0))
        self.calibrating = False
        self._seen: list[torch.Tensor] = []

    def set_weight_quantizer(self) -> None:
        w = self.layer.weight.detach()
        if self.mode == "kmeans" and self.w_bits < 32:
            from sklearn.cluster import KMeans

            flat = w.flatten().numpy().reshape(-1, 1)
            k = min(2 ** self.w_bits, len(np.unique(flat)))
            km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(flat)
            cents = np.sort(km.cluster_centers_.ravel())
            self.centroids = torch.from_numpy(np.pad(cents, (0, 2 ** self.w_bits - k), mode="edge")).float()
        elif self.per_channel:  # each output channel its own range (its largest weight)
            self.w_clip.copy_(w.abs().flatten(1).amax(1))
        elif self.w_bits < 5:
            self.w_clip.fill_(kl_threshold(w.numpy(), self.w_bits))
        else:
            self.w_clip.fill_(float(w.abs().max()))

    def quantized_weight(self) -> torch.Tensor:
        w = self.layer.weight
        if self.w_bits >= 32:
            return w
        if self.mode == "kmeans":
            idx = torch.argmin((w.detach().unsqueeze(-1) - self.centroids).abs(), dim=-1)
            return _ste(w, self.centroids[idx])
        return fake_quant(w, self.w_bits, self.w_clip if self.per_channel else float(self.w_clip), True)

    def finish_calibration(self) -> None:
        x = torch.cat([t.flatten() for t in self._seen]) if self._seen else torch.zeros(1)
        self._seen = []
        self.calibrating = False
        signed = bool(x.min() < 0)
        self.a_signed.fill_(signed)
        # kl_threshold counts 2^(bits-1) levels of |x|: an unsigned range has twice as many
        kl_bits = self.a_bits if signed else self.a_bits + 1
        # the exact zeros a ReLU leaves are not part of the range to fit (TensorRT leaves them out too)
        nz = x[x != 0]
        clip = kl_threshold(nz.numpy(), kl_bits) if self.a_bits < 5 and nz.numel() else float(x.abs().max())
        self.a_clip.fill_(clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calibrating:
            self._seen.append(x.detach()[:64].flatten()[::7])
        elif self.a_bits < 32:
            x = fake_quant(x, self.a_bits, float(self.a_clip), bool(self.a_signed))
        w = self.quantized_weight()
        layer = self.layer
        if isinstance(layer, nn.Conv2d):
            return F.conv2d(x, w, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
        return F.linear(x, w, layer.bias)

    def extra_repr(self) -> str:
        return f"w{self.w_bits}a{self.a_bits}, {self.mode}" + (", per channel" if self.per_channel else "")


def quantizable_layers(model: nn.Module, example_inputs: Sequence[torch.Tensor]) -> list[LayerInfo]:
    """Every conv and linear layer of ``model`` in execution order."""
    from ..hardware.cost import profile_model

    mods = dict(model.named_modules())
    out = []
    for lc in profile_model(model, example_inputs).layers:
        m = mods.get(lc.name)
        if isinstance(m, nn.Conv2d):
            area = int(lc.in_shape[-1] * lc.in_shape[-2]) if len(lc.in_shape) == 4 else 1
            out.append(LayerInfo(len(out), lc.name, m.groups > 1 and m.groups == m.in_channels, m.in_channels,
                                 m.out_channels, int(m.stride[0]), int(m.kernel_size[0]), m.weight.numel(), area))
        elif isinstance(m, nn.Linear):
            out.append(LayerInfo(len(out), lc.name, False, m.in_features, m.out_features, 1, 1, m.weight.numel(), 1))
    return out


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def quantize(model: nn.Module, layers: Sequence[LayerInfo], policy: Sequence[tuple[int, int]],
             calibration: Iterable[torch.Tensor], *, mode: str = "linear", fit: bool = True,
             per_channel: bool = False) -> nn.Module:
    """A copy of ``model`` with layer i quantised to ``policy[i] = (w_bits, a_bits)``;
    activation ranges calibrated on ``calibration`` batches (inputs only).
    ``fit=False`` only builds the structure (a saved network's buffers are loaded after)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if len(policy) != len(layers):
        raise ValueError(f"{len(policy)} bit pairs for {len(layers)} layers")
    q = copy.deepcopy(model)
    wrapped = []
    for info, (wb, ab) in zip(layers, policy):
        if not (1 <= wb <= 32 and 1 <= ab <= 32):
            raise ValueError(f"{info.name}: bits must be from 1 to 32")
        qa = QuantLayer(q.get_submodule(info.name), wb, ab, mode=mode, per_channel=per_channel)
        if fit:
            qa.set_weight_quantizer()
            qa.calibrating = True
        _set(q, info.name, qa)
        wrapped.append(qa)
    if not fit:
        return q
    was = q.training
    q.eval()
    with torch.no_grad():
        for x in calibration:
            q(x)
    for qa in wrapped:
        qa.finish_calibration()
    q.train(was)
    return q
