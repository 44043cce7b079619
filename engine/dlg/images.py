"""The images an attack is run on: offline datasets or a user's PNG/JPEG file.

:func:`load_user_image` validates an uploaded file before decoding it (name,
magic bytes, file size, pixel count — a decompression-bomb guard — and a full
decode that catches truncation) and raises :class:`engine.data.DataError`
with a message fit to show the user.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import PHOTO_NAMES, DataError, load_dataset, load_photos

__all__ = ["MAX_FILE_BYTES", "MAX_SIDE", "IMAGE_SOURCES", "AttackImages", "load_user_image", "load_attack_images",
           "check_image_name"]

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_SIDE = 4096
IMAGE_SOURCES = ("photos", "mnist-5k")
_EXTENSIONS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}


def check_image_name(path: str) -> str | None:
    """A message when ``path`` does not name a PNG/JPEG file, else None."""
    if Path(path).suffix.lower() not in _EXTENSIONS:
        return "the image must be a .png, .jpg or .jpeg file"
    return None


def load_user_image(path: str | Path, size: int = 32) -> torch.Tensor:
    """A user's PNG/JPEG as a (3, size, size) float tensor in [0, 1]: centre
    crop to a square, then a bicubic resize. Raises :class:`DataError`."""
    from PIL import Image, ImageOps

    p = Path(path)
    name = p.name
    msg = check_image_name(str(p))
    if msg:
        raise DataError(f"{name}: {msg}")
    if not p.is_file():
        raise DataError(f"{name}: no such image file")
    nbytes = p.stat().st_size
    if nbytes == 0:
        raise DataError(f"{name}: the file is empty")
    if nbytes > MAX_FILE_BYTES:
        raise DataError(f"{name}: the file is {nbytes / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    with open(p, "rb") as f:
        head = f.read(8)
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None:
        raise DataError(f"{name}: not a PNG or JPEG image (the file's first bytes are not an image signature)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.format != kind:
                    raise DataError(f"{name}: could not be read as a {kind} image")
                w, h = im.size
                if w > MAX_SIDE or h > MAX_SIDE:
                    raise DataError(f"{name}: the image is {w}x{h} pixels; at most {MAX_SIDE}x{MAX_SIDE} is accepted")
                if w < 1 or h < 1:
                    raise DataError(f"{name}: the image has no pixels")
                im.verify()  # checks PNG chunk CRCs before anything is decoded
            with Image.open(p) as im:
                im.load()  # a full decode: raises on truncated data
                im = ImageOps.exif_transpose(im)
                arr = _to_rgb_array(im)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{name}: the image has too many pixels (decompression-bomb guard)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"{name}: the {kind} file is damaged or truncated ({e})") from None
    return _square_resize(arr, size)


def _to_rgb_array(im) -> np.ndarray:
    """uint8 (H, W, 3), any PIL mode; transparency composited onto white."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0, 0, 255).astype(np.uint8)
        return np.stack([a] * 3, -1)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _square_resize(arr: np.ndarray, size: int) -> torch.Tensor:
    from PIL import Image

    h, w = arr.shape[:2]
    s = min(h, w)
    arr = arr[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    im = Image.fromarray(np.ascontiguousarray(arr)).resize((size, size), Image.BICUBIC, reducing_gap=3.0)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


@dataclass
class AttackImages:
    """A batch to attack: images (B, C, S, S) in [0, 1], labels, names."""

    x: torch.Tensor
    y: torch.Tensor
    names: list[str]
    source: str

    @property
    def channels(self) -> int:
        return int(self.x.shape[1])


def load_attack_images(*, source: str, batch_size: int, index: int = 0, size: int = 32, num_classes: int = 10,
                       image_file: str = "") -> AttackImages:
    """``batch_size`` images: the user's file first (when given), then images of
    ``source`` from ``index`` on. Photos are labelled by their position modulo
    ``num_classes``; MNIST digits by their digit, picked ``N/B`` apart in the
    class-sorted test split so a batch holds several classes; the user's image
    gets the smallest label the rest of the batch does not use."""
    if source not in IMAGE_SOURCES:
        raise DataError(f"unknown image source {source!r}; known: {', '.join(IMAGE_SOURCES)}")
    xs: list[torch.Tensor] = []
    names: list[str] = []
    labels: list[int] = []
    user = None
    if image_file:
        user = load_user_image(image_file, size)
    n_rest = batch_size - (user is not None)
    channels = 3 if (source == "photos" or user is not None) else 1
    if n_rest > 0 and source == "photos":
        picks = [(index + k) % len(PHOTO_NAMES) for k in range(n_rest)]
        photos, pnames = load_photos(size, tuple(PHOTO_NAMES[i] for i in picks))
        for k, i in enumerate(picks):
            xs.append(photos[k])
            names.append(pnames[k])
            labels.append(i % num_classes)
    elif n_rest > 0:
        if num_classes < 10:
            raise DataError("MNIST digits need a victim with at least 10 classes")
        data = load_dataset("mnist-5k", train=False, image_size=size, channels=channels)
        n = len(data.y)
        for k in range(n_rest):
            i = (index + k * (n // n_rest)) % n
            xs.append(data.x[i])
            labels.append(int(data.y[i]))
            names.append(f"mnist-{i} (digit {int(data.y[i])})")
    if user is not None:
        free = next(c for c in range(num_classes + len(labels)) if c not in labels) % num_classes
        xs.insert(0, user)
        names.insert(0, Path(image_file).name)
        labels.insert(0, free)
        source = "file" if n_rest == 0 else f"file+{source}"
    return AttackImages(torch.stack(xs).contiguous(), torch.tensor(labels, dtype=torch.long), names, source)
