"""Loading datasets by name: :func:`load_dataset` (one split as tensors),
:func:`load_train_test` (both splits, some classes kept, the training split
limited) and :func:`choose_dataset` (a dataset, or its fallback when it is not
installed, with a message saying so)."""
from __future__ import annotations

import os
from dataclasses import dataclass

from .catalog import data_dir, dataset_info, dataset_names
from .errors import DataError
from .classes import parse_classes
from .images import ImageData, resize_images

__all__ = ["DATASETS", "OFFLINE_DATASETS", "load_dataset", "load_train_test", "is_installed", "DatasetChoice",
           "choose_dataset"]

DATASETS: tuple[str, ...] = dataset_names(modality="images")
OFFLINE_DATASETS: tuple[str, ...] = tuple(n for n in DATASETS if dataset_info(n).offline)


def load_dataset(name: str, *, train: bool = True, image_size: int | None = None, channels: int | None = None,
                 root: str | os.PathLike[str] | None = None, download: bool = False,
                 limit: int | None = None) -> ImageData:
    """Load a dataset by name as tensors. Raises :class:`DataError` with a clear
    message when a standard set is neither in ``root`` nor downloadable."""
    info = dataset_info(name)
    if info.load is None or info.modality != "images":
        raise DataError(f"{name} holds {info.modality}, not images")
    data = info.load(train=train, root=data_dir(root), download=download, size=image_size)
    if limit is not None:
        data = data.limit(limit)
    data.x = resize_images(data.x, image_size, channels)
    return data


def load_train_test(name: str, *, classes: str = "all", train_limit: int = 0, seed: int = 0,
                    image_size: int | None = None, channels: int | None = None,
                    root: str | os.PathLike[str] | None = None,
                    download: bool = False) -> tuple[ImageData, ImageData]:
    """The train and test splits of ``name``, keeping only ``classes`` (``"all"``,
    or indices and ranges such as ``"0-4"``; relabelled 0..k-1), the training split
    cut to ``train_limit`` images (a seeded pick; 0: all)."""
    train = load_dataset(name, train=True, image_size=image_size, channels=channels, root=root, download=download)
    test = load_dataset(name, train=False, image_size=image_size, channels=channels, root=root, download=download)
    keep = parse_classes(classes, train.num_classes)
    if keep is not None:
        train, test = train.subset_classes(keep), test.subset_classes(keep)
    if train_limit:
        train = train.limit(train_limit, seed=seed)
    return train, test


def is_installed(name: str, *, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``name``'s files are there (always for the offline sets; sets
    without a cheap check count as there, and loading them says when not)."""
    info = dataset_info(name)
    return info.installed is None or info.installed(data_dir(root))


@dataclass(frozen=True)
class DatasetChoice:
    """The dataset a run uses: ``name``, which is ``requested`` unless that one is
    not installed and has a fallback; ``note`` then says so (for the page)."""

    requested: str
    name: str
    note: str = ""

    @property
    def fell_back(self) -> bool:
        return self.name != self.requested


def choose_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> DatasetChoice:
    """``name``, or its record's fallback when ``name`` is not installed."""
    info = dataset_info(name)
    if info.fallback is None or is_installed(name, root=root):
        return DatasetChoice(name, name)
    how = f" ({info.install})" if info.install else ""
    return DatasetChoice(name, info.fallback, f"{name} is not installed on this machine{how}: "
                                              f"using {info.fallback} instead")
