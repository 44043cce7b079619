"""Forecast videos and pictures: side-by-side panels (ground truth, each
method), the observed frames first and then the forecast, skeletons drawn
over, written as H.264 mp4 (``engine.dlg.render.write_mp4``) or PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..dlg.render import write_mp4
from .mocap import COCO_LIMBS

__all__ = ["panel_frames", "write_forecast_video", "save_strip", "PERSON_COLOURS"]

PERSON_COLOURS = ((255, 60, 60), (60, 200, 255), (255, 220, 40), (120, 255, 120), (255, 120, 255), (255, 160, 60))
_SCALE = 3
_BAND = 14


def _to_image(frame: torch.Tensor) -> Image.Image:
    arr = (frame.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    im = Image.fromarray(arr)
    return im.resize((im.width * _SCALE, im.height * _SCALE), Image.NEAREST)


def _skeletons(im: Image.Image, poses: torch.Tensor, mask: torch.Tensor) -> None:
    d = ImageDraw.Draw(im)
    for p in range(poses.shape[0]):
        if not bool(mask[p]):
            continue
        c = PERSON_COLOURS[p % len(PERSON_COLOURS)]
        pts = (poses[p].numpy() + 0.5) * _SCALE
        for a, b in COCO_LIMBS:
            d.line([tuple(pts[a]), tuple(pts[b])], fill=c, width=1)


def panel_frames(columns: list[tuple[str, torch.Tensor, torch.Tensor | None]], mask: torch.Tensor,
                 observed: int) -> list[np.ndarray]:
    """``columns``: (title, frames (T, 3, H, W), poses (P, T, 17, 2) or None) -> RGB frames side by side, each
    panel titled and the band saying "observed" or "forecast +k"."""
    T = columns[0][1].shape[0]
    out = []
    for t in range(T):
        tiles = []
        for title, frames, poses in columns:
            im = _to_image(frames[t])
            if poses is not None and t >= observed:
                _skeletons(im, poses[:, t], mask)
            canvas = Image.new("RGB", (im.width, im.height + 2 * _BAND), (20, 20, 20))
            canvas.paste(im, (0, _BAND))
            d = ImageDraw.Draw(canvas)
            d.text((3, 1), title[:28], fill=(235, 235, 235))
            band = "observed" if t < observed else f"forecast +{t - observed + 1}"
            d.text((3, im.height + _BAND + 1), band, fill=(140, 220, 140) if t < observed else (255, 190, 90))
            tiles.append(np.asarray(canvas))
        row = np.concatenate(tiles, 1)
        h, w = row.shape[:2]
        pad = np.zeros(((16 - h % 16) % 16 + h, (16 - w % 16) % 16 + w, 3), np.uint8)
        pad[:h, :w] = row
        out.append(pad)
    return out


def write_forecast_video(path: str | Path, columns, mask, observed: int, *, fps: int = 6) -> Path:
    return write_mp4(panel_frames(columns, mask, observed), path, fps=fps)


def save_strip(path: str | Path, rows: list[np.ndarray]) -> Path:
    """Stack equal-width RGB rows into one PNG."""
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0))) for r in rows]
    Image.fromarray(np.concatenate(rows, 0)).save(path)
    return Path(path)
