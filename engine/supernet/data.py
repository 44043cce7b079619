"""Image data for NAS: train / validation / test tensors, normalised, kept at
the space's largest resolution and resized (and cached) per resolution."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ImageData, load_dataset, resize_images

__all__ = ["NasData", "load_nas_data", "VAL_LIMIT"]

#: validation images kept by default: every sub-net evaluation of a search runs over them
#: (mnist-5k has 800; Fashion-MNIST's 20 % would be 12,000)
VAL_LIMIT = 2000


@dataclass
class NasData:
    name: str
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    num_classes: int
    in_channels: int
    resolution: int
    _cache: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict, repr=False)
    #: the per-channel normalisation applied to every split (the training split's statistics)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def preprocess(self) -> dict:
        """How an image becomes this data's input (kept with a saved network)."""
        return {"channels": self.in_channels, "resize": "bilinear to the network's resolution",
                "scale": "pixel values in [0, 1]", "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_splits(cls, name: str, train: ImageData, val: ImageData, test: ImageData) -> "NasData":
        """The three splits (one size and channel count), normalised per channel with
        the training split's statistics."""
        mean = train.x.mean(dim=(0, 2, 3), keepdim=True)
        std = train.x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
        x = {split: ((d.x - mean) / std).contiguous() for split, d in (("train", train), ("val", val),
                                                                        ("test", test))}
        return cls(name, x, {"train": train.y, "val": val.y, "test": test.y}, train.num_classes,
                   int(train.x.shape[1]), int(train.x.shape[-1]), mean=tuple(mean.flatten().tolist()),
                   std=tuple(std.flatten().tolist()))

    def images(self, split: str, resolution: int | None = None) -> torch.Tensor:
        r = resolution or self.resolution
        x = self.x[split]
        if r == x.shape[-1]:
            return x
        key = (split, r)
        if key not in self._cache:
            self._cache[key] = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False,
                                             antialias=True).contiguous()
        return self._cache[key]

    def batches(self, split: str, batch_size: int, *, resolution: int | None = None, limit: int | None = None,
                shuffle_seed: int | None = None):
        """(x, y) batches of ``split`` at ``resolution``, optionally shuffled and limited."""
        x, y = self.images(split, resolution), self.y[split]
        idx = torch.arange(len(y))
        if shuffle_seed is not None:
            idx = torch.from_numpy(np.random.default_rng(shuffle_seed).permutation(len(y)))
        if limit is not None:
            idx = idx[:limit]
        for s in range(0, len(idx), batch_size):
            j = idx[s:s + batch_size]
            yield x[j], y[j]


def load_nas_data(dataset: str = "mnist-5k", *, resolution: int = 32, in_channels: int = 1,
                  val_fraction: float = 0.2, train_limit: int | None = None, val_limit: int | None = VAL_LIMIT,
                  seed: int = 0) -> NasData:
    """Train split divided into train / validation (stratified), each cut to its
    limit (a seeded pick; None: all); the dataset's test split kept apart for final
    accuracies. Normalised with train statistics. Only the images kept are resized
    (the same pixels as resizing all first: each image is resized on its own)."""
    full = load_dataset(dataset, train=True)
    test = load_dataset(dataset, train=False)
    train, val = full.split(val_fraction, seed=seed)
    if train_limit is not None:
        train = train.limit(train_limit, seed=seed)
    if val_limit is not None:
        val = val.limit(val_limit, seed=seed)
    for part in (train, val, test):
        part.x = resize_images(part.x, resolution, in_channels)
    return NasData.from_splits(dataset, train, val, test)
