"""Image data as tensors: :class:`ImageData` (split, keep classes, limit),
resizing and channel conversion, and in-memory loaders."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from .errors import DataError

__all__ = ["ImageData", "resize_images", "make_loaders"]


@dataclass
class ImageData:
    """Images as float tensors in [0, 1], shape (N, C, H, W), with int64 labels."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    def split(self, val_fraction: float, *, seed: int = 0) -> tuple["ImageData", "ImageData"]:
        """Stratified split into train and validation parts."""
        g = np.random.default_rng(seed)
        y = self.y.numpy()
        val_idx = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            g.shuffle(idx)
            val_idx.extend(idx[: max(1, int(round(len(idx) * val_fraction)))])
        mask = np.zeros(len(y), dtype=bool)
        mask[val_idx] = True
        tr, va = torch.from_numpy(~mask), torch.from_numpy(mask)
        return (ImageData(self.name, self.x[tr], self.y[tr], self.classes, self.source),
                ImageData(self.name, self.x[va], self.y[va], self.classes, self.source))

    def subset_classes(self, keep: list[int]) -> "ImageData":
        """Keep only ``keep`` classes, relabelled 0..len(keep)-1."""
        mask = torch.isin(self.y, torch.tensor(keep))
        remap = {c: i for i, c in enumerate(keep)}
        y = torch.tensor([remap[int(v)] for v in self.y[mask]], dtype=torch.long)
        return ImageData(self.name, self.x[mask], y, [self.classes[c] for c in keep], self.source)

    def limit(self, n: int, *, seed: int = 0) -> "ImageData":
        """At most ``n`` images, a seeded random pick (``self`` when it has no more)."""
        if n >= len(self.y):
            return self
        idx = torch.from_numpy(np.random.default_rng(seed).permutation(len(self.y))[:n])
        return ImageData(self.name, self.x[idx], self.y[idx], self.classes, self.source)


def resize_images(x: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] to ``channels`` (grey <-> RGB) and ``size`` x ``size`` (bilinear, antialiased)."""
    if channels is not None and x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            raise DataError(f"cannot convert {x.shape[1]} channels to {channels}")
    if size is not None and (x.shape[-1] != size or x.shape[-2] != size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1).contiguous()


def make_loaders(train: ImageData, val: ImageData | None, *, batch_size: int, seed: int = 0,
                 normalize: bool = True) -> tuple[DataLoader, DataLoader | None]:
    """In-memory loaders; inputs normalised per channel with the train set's statistics."""
    mean = train.x.mean(dim=(0, 2, 3), keepdim=True) if normalize else 0.0
    std = train.x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3) if normalize else 1.0
    g = torch.Generator().manual_seed(seed)
    tl = DataLoader(TensorDataset((train.x - mean) / std, train.y), batch_size=batch_size, shuffle=True,
                    generator=g, drop_last=len(train.y) > batch_size)
    vl = None
    if val is not None:
        vl = DataLoader(TensorDataset((val.x - mean) / std, val.y), batch_size=max(batch_size, 256))
    return tl, vl
