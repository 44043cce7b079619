"""Real photographs shipped with scikit-image and scikit-learn."""
from __future__ import annotations

import numpy as np
import torch

from .images import resize_images

__all__ = ["PHOTO_NAMES", "load_photos"]

PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
               "colorwheel", "camera", "moon", "coins", "horse", "clock", "china", "flower")


def load_photos(size: int = 32, names: tuple[str, ...] = PHOTO_NAMES) -> tuple[torch.Tensor, list[str]]:
    """Real photographs, centre-cropped square and resized: (N, 3, size, size) in [0, 1]."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    out, kept = [], []
    for n in names:
        if n in ("china", "flower"):
            img = load_sample_image(f"{n}.jpg")
        else:
            img = getattr(skimage.data, n)()
        img = np.asarray(img)
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        img = img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)
        out.append(resize_images(t, size, 3))
        kept.append(n)
    return torch.cat(out), kept
