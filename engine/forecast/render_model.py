"""Rendering forecast poses into frames, and the pixel-level baseline.

:class:`AdaptiveRenderer` (the paper's renderer, section 4): per person, an
encoder-decoder takes the last observed frame, the person's limb maps there
and at the target pose (:func:`limb_maps`: one soft map per COCO limb), the
background, and each limb's observed colour spread over its target map
(:meth:`AdaptiveRenderer.limb_colours`, also the decoder's starting
colour); a small fully convolutional network looks at that person's
appearance in the observed frame (the frame masked by its limbs) and predicts
*adaptive appearance filters* — a depthwise 3x3 kernel and a scale and shift
per bottleneck channel — that are applied to the encoder's features before
decoding. The decoder gives the person's colours and a mask, the mask kept to the
neighbourhood of the target pose's limbs; people are composited over the
background far to near.

:class:`PixelConvGRU` is the baseline the paper argues against: a
convolutional GRU over the observed frames that predicts the next frames
directly (each step a change of the last frame), fed its own predictions
for the future.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mocap import COCO_LIMBS

__all__ = ["limb_maps", "AdaptiveRenderer", "PoseVideoRenderer", "PixelConvGRU", "composite"]


def limb_maps(poses: torch.Tensor, size: int, *, sigma: float = 1.2) -> torch.Tensor:
    """(..., 17, 2) pixel keypoints -> (..., limbs, size, size) maps, exp(-d^2 / 2 sigma^2) of the distance
    to each limb's segment (sigma scaled by size / 64)."""
    lead = poses.shape[:-2]
    p = poses.reshape(-1, 17, 2)
    a = p[:, [i for i, _ in COCO_LIMBS]]  # (N, L, 2)
    b = p[:, [j for _, j in COCO_LIMBS]]
    ys, xs = torch.meshgrid(torch.arange(size, dtype=p.dtype), torch.arange(size, dtype=p.dtype), indexing="ij")
    g = torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)  # (1, 1, HW, 2)
    ab = (b - a)[:, :, None]
    t = (((g - a[:, :, None]) * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    d2 = ((g - (a[:, :, None] + t[..., None] * ab)) ** 2).sum(-1)
    s = sigma * size / 64
    m = torch.exp(-d2 / (2 * s * s))
    return m.reshape(*lead, len(COCO_LIMBS), size, size)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.ReLU(inplace=True))


class AdaptiveRenderer(nn.Module):
    """``forward(frame, src_maps, tgt_maps, background, mask, depth) -> frame``: frame, background (B, 3, H, W);
    maps (B, P, L, H, W); mask (B, P) bool; depth (B, P) (larger is farther)."""

    def __init__(self, *, width: int = 24, adaptive: bool = True):
        super().__init__()
        L = len(COCO_LIMBS)
        self.width, self.adaptive = int(width), bool(adaptive)
        w = self.width
        self.enc1 = _block(3 + 3 + 3 + 2 * L, w)
        self.enc2 = _block(w, 2 * w, 2)
        self.enc3 = _block(2 * w, 4 * w, 2)
        # the appearance FCN: the person's pixels and limbs -> per-channel filters of the bottleneck
        self.appearance = nn.Sequential(_block(3 + L, w, 2), _block(w, 2 * w, 2), nn.Conv2d(2 * w, 4 * w * 11, 1))
        self.dec2 = _block(4 * w + 2 * w, 2 * w)
        self.dec1 = _block(2 * w + w, w)
        self.out = nn.Conv2d(w, 4, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():  # starts by drawing each limb in its observed colour inside the target pose's envelope
            self.out.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 2.0]))

    def _filters(self, frame: torch.Tensor, src_maps: torch.Tensor) -> torch.Tensor:
        person = src_maps.amax(1, keepdim=True)
        f = self.appearance(torch.cat([frame * person, src_maps], 1)).mean((2, 3))  # FCN, pooled: (N, 4w*11)
        return f.view(f.shape[0], 4 * self.width, 11)

    @staticmethod
    def limb_colours(frame: torch.Tensor, src_maps: torch.Tensor, tgt_maps: torch.Tensor) -> torch.Tensor:
        """Each limb's mean observed colour (under its source map) spread over its target map: (N, 3, H, W)."""
        weight = src_maps.sum((-1, -2))[..., None].clamp_min(1e-3)
        colour = (frame[:, None] * src_maps[:, :, None]).sum((-1, -2)) / weight  # (N, L, 3)
        field = (tgt_maps[:, :, None] * colour[..., None, None]).sum(1)
        return field / tgt_maps.sum(1, keepdim=True).clamp_min(1e-3)

    def person_layers(self, frame, src_maps, tgt_maps, background) -> tuple[torch.Tensor, torch.Tensor]:
        """Per person (N = B*P rows): colours (N, 3, H, W) and mask (N, 1, H, W)."""
        field = self.limb_colours(frame, src_maps, tgt_maps)
        x1 = self.enc1(torch.cat([frame, background, field, src_maps, tgt_maps], 1))
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        if self.adaptive:
            filt = self._filters(frame, src_maps)
            N, C, h, w = x3.shape
            kernel = filt[..., :9].reshape(N * C, 1, 3, 3) / 3
            dw = F.conv2d(x3.reshape(1, N * C, h, w), kernel, padding=1, groups=N * C).view(N, C, h, w)
            x3 = x3 + dw * (1 + filt[..., 9, None, None]) + filt[..., 10, None, None]
        y = F.interpolate(x3, scale_factor=2, mode="nearest")
        y = self.dec2(torch.cat([y, x2], 1))
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        y = self.out(self.dec1(torch.cat([y, x1], 1)))
        # a person is drawn only near its target pose: the limbs' maps dilated by ~size/24 px
        r = max(1, frame.shape[-1] // 24)
        envelope = F.max_pool2d(tgt_maps.amax(1, keepdim=True), 2 * r + 1, 1, r)
        return (field + torch.tanh(y[:, :3])).clamp(0, 1), torch.sigmoid(y[:, 3:]) * envelope

    def forward(self, frame, src_maps, tgt_maps, background, mask, depth):
        B, P = mask.shape
        H, W = frame.shape[-2:]
        rows = mask.flatten().nonzero().flatten()  # only the people present are rendered
        scene = rows // P
        rgb = frame.new_zeros(B * P, 3, H, W)
        alpha = frame.new_zeros(B * P, 1, H, W)
        if len(rows):
            c, a = self.person_layers(frame[scene], src_maps.flatten(0, 1)[rows], tgt_maps.flatten(0, 1)[rows],
                                      background[scene])
            rgb, alpha = rgb.index_copy(0, rows, c), alpha.index_copy(0, rows, a)
        return composite(background, rgb.view(B, P, 3, H, W), alpha.view(B, P, 1, H, W), mask, depth)


def composite(background: torch.Tensor, rgb: torch.Tensor, alpha: torch.Tensor, mask: torch.Tensor,
              depth: torch.Tensor) -> torch.Tensor:
    """People (B, P, 3/1, H, W) over the background, farthest first; absent people skipped."""
    out = background
    order = torch.argsort(depth.masked_fill(~mask, float("-inf")), dim=1, descending=True)
    ar = torch.arange(rgb.shape[0])
    for k in range(rgb.shape[1]):
        i = order[:, k]
        a = alpha[ar, i] * mask[ar, i].view(-1, 1, 1, 1)
        out = out * (1 - a) + rgb[ar, i] * a
    return out


class _ConvGRUCell(nn.Module):
    def __init__(self, cin: int, hidden: int):
        super().__init__()
        self.gates = nn.Conv2d(cin + hidden, 2 * hidden, 3, 1, 1)
        self.cand = nn.Conv2d(cin + hidden, hidden, 3, 1, 1)

    def forward(self, x, h):
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        c = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * c


class PixelConvGRU(nn.Module):
    """``forward(frames (B, To, 3, H, W)) -> (B, future, 3, H, W)``: next frames predicted from pixels."""

    def __init__(self, *, future: int, width: int = 24, hidden: int = 32):
        super().__init__()
        self.future, self.width, self.hidden = int(future), int(width), int(hidden)
        self.enc = nn.Sequential(_block(3, width, 2), _block(width, hidden, 2))
        self.cell = _ConvGRUCell(hidden, hidden)
        self.dec = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _block(hidden, width),
                                 nn.Upsample(scale_factor=2, mode="nearest"), _block(width, width))
        self.out = nn.Conv2d(width + 3, 3, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _next(self, frame, h):
        h = self.cell(self.enc(frame), h)
        delta = torch.tanh(self.out(torch.cat([self.dec(h), frame], 1)))
        return (frame + delta).clamp(0, 1), h

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        B, To, C, H, W = frames.shape
        h = frames.new_zeros(B, self.hidden, H // 4, W // 4)
        pred = frames[:, 0]
        for t in range(To):
            pred, h = self._next(frames[:, t], h)
        out = [pred]
        for _ in range(self.future - 1):
            pred, h = self._next(pred, h)
            out.append(pred)
        return torch.stack(out, 1)


class PoseVideoRenderer(nn.Module):
    """The renderer as a standalone network: ``forward(frames (B, To, 3, H, W), poses (B, P, To + Tf, 17, 2))
    -> (B, Tf, 3, H, W)``: every future pose rendered from the last observed frame, over the observed frames'
    median as the background, people ordered by how low their feet are (lower is nearer)."""

    def __init__(self, *, width: int = 24):
        super().__init__()
        self.renderer = AdaptiveRenderer(width=width)

    @classmethod
    def wrap(cls, renderer: AdaptiveRenderer) -> "PoseVideoRenderer":
        out = cls(width=renderer.width)
        out.renderer = renderer
        return out.eval()

    def forward(self, frames: torch.Tensor, poses: torch.Tensor) -> torch.Tensor:
        B, To, _, H, W = frames.shape
        last, background = frames[:, -1], frames.median(dim=1).values
        src = limb_maps(poses[:, :, To - 1], H)
        mask = torch.ones(B, poses.shape[1], dtype=torch.bool, device=frames.device)
        depth = -poses[:, :, To - 1, 15:17, 1].mean(-1)
        return torch.stack([self.renderer(last, src, limb_maps(poses[:, :, t], H), background, mask, depth)
                            for t in range(To, poses.shape[2])], 1)
