"""Pictures of an attack: PNG tiles and the mp4 of a reconstruction evolving.

Small images are upscaled with nearest-neighbour so each pixel stays visible;
video frames are padded to multiples of 16 and encoded with libx264 / yuv420p,
which browsers (Chromium included) play.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["to_uint8", "tile_row", "compose", "save_png", "write_mp4", "pair_image", "batch_frame", "labelled_row"]

_BG = 255


def to_uint8(img: torch.Tensor, tile: int) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (tile, tile*W/H, 3) uint8, nearest-neighbour upscaled."""
    img = img.detach().float().clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    factor = max(1, tile // img.shape[-2])
    up = torch.nn.functional.interpolate(img[None], scale_factor=factor, mode="nearest")[0]
    return (up.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def tile_row(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    h = max(a.shape[0] for a in images)
    parts = []
    for i, a in enumerate(images):
        if i:
            parts.append(np.full((h, gap, 3), _BG, np.uint8))
        if a.shape[0] < h:
            a = np.concatenate([a, np.full((h - a.shape[0], a.shape[1], 3), _BG, np.uint8)])
        parts.append(a)
    return np.concatenate(parts, axis=1)


def compose(rows: list[np.ndarray], gap: int = 4, multiple: int = 1) -> np.ndarray:
    """Stack rows (padded to the widest), then pad to a multiple of ``multiple``."""
    w = max(r.shape[1] for r in rows)
    parts = []
    for i, r in enumerate(rows):
        if i:
            parts.append(np.full((gap, w, 3), _BG, np.uint8))
        if r.shape[1] < w:
            r = np.concatenate([r, np.full((r.shape[0], w - r.shape[1], 3), _BG, np.uint8)], axis=1)
        parts.append(r)
    out = np.concatenate(parts, axis=0)
    if multiple > 1:
        ph = (-out.shape[0]) % multiple
        pw = (-out.shape[1]) % multiple
        out = np.pad(out, ((0, ph), (0, pw), (0, 0)), constant_values=_BG)
    return out


def _label(text: str, width: int, height: int = 24) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (_BG, _BG, _BG))
    ImageDraw.Draw(im).text((6, 5), text, fill=(20, 20, 20))
    return np.asarray(im)


def save_png(arr: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    Image.fromarray(arr).save(path, format="PNG")
    return path


def pair_image(original: torch.Tensor, recon: torch.Tensor, tile: int = 128) -> np.ndarray:
    """original | reconstruction, side by side."""
    return tile_row([to_uint8(original, tile), to_uint8(recon, tile)])


def batch_frame(originals: torch.Tensor, recon: torch.Tensor, *, title: str = "", tile: int | None = None,
                multiple: int = 16) -> np.ndarray:
    """Originals on the top row, reconstructions below, an optional title band."""
    b = originals.shape[0]
    tile = tile or (256 if b == 1 else 128)
    top = tile_row([to_uint8(o, tile) for o in originals])
    bottom = tile_row([to_uint8(r, tile) for r in recon])
    rows = [top, bottom]
    if title:
        rows.insert(0, _label(title, top.shape[1]))
    return compose(rows, multiple=multiple)


def write_mp4(frames: list[np.ndarray], path: str | Path, *, fps: int = 12) -> Path:
    """H.264 (libx264, yuv420p) mp4 with imageio-ffmpeg; frames are equal-sized uint8 RGB."""
    import imageio.v2 as imageio

    path = Path(path)
    writer = imageio.get_writer(str(path), fps=fps, codec="libx264", pixelformat="yuv420p",
                                macro_block_size=16, ffmpeg_log_level="error",
                                output_params=["-movflags", "+faststart"])
    try:
        for f in frames:
            writer.append_data(f)
    finally:
        writer.close()
    return path


def labelled_row(images: list[torch.Tensor], labels: list[str], tile: int = 96) -> np.ndarray:
    """Images side by side, each with a caption underneath."""
    tiles = []
    for img, text in zip(images, labels):
        a = to_uint8(img, tile)
        tiles.append(compose([a, _label(text, a.shape[1], 18)], gap=0))
    return tile_row(tiles)
