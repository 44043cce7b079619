"""The dataset catalogue: one record per dataset, registered by name.

A record says what the data is (modality: images, parallel text, pose
sequences, video), where its files come from, under which licence, and whether
it is real data, a composition of real items, or generated. Image records also
give their channels, native size and class count. Registration refuses a
duplicate name (:class:`engine.registry.Registry`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..problems import ImageClassification, Problem
from ..registry import Registry
from .errors import DataError
from .images import ImageData

__all__ = ["MODALITIES", "ORIGINS", "DatasetInfo", "datasets", "register_dataset", "dataset_info",
           "dataset_names", "data_dir"]

MODALITIES = ("images", "parallel-text", "pose-sequences", "video")
#: real: recorded data (or a sample of it); composed: real items put together into a set by us
#: (labels are ours); generated: made by a program
ORIGINS = ("real", "composed", "generated")



@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset. ``load(train=, root=, download=, size=)`` returns a
    split as :class:`~engine.data.images.ImageData` (at its native size; ``size``
    is a hint for sets without one); ``installed(root)`` (optional) says cheaply
    whether its files are in the data folder ``root`` or the system's."""

    name: str
    title: str
    modality: str
    #: where the files come from (package, folder, paper)
    source: str
    licence: str
    origin: str = "real"
    #: ships inside an installed Python package: always there, no download
    offline: bool = False
    channels: int | None = None
    #: native side in pixels (None: any, resized on load)
    size: int | None = None
    classes: int | None = None
    #: loaded instead (by :func:`engine.data.choose_dataset`) when this one is not installed
    fallback: str | None = None
    #: how to make it available, for messages
    install: str = ""
    load: Callable[..., ImageData] | None = field(default=None, compare=False, repr=False)
    installed: Callable[[Path], bool] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"dataset {self.name!r}: modality must be one of {MODALITIES}, not {self.modality!r}")
        if self.origin not in ORIGINS:
            raise ValueError(f"dataset {self.name!r}: origin must be one of {ORIGINS}, not {self.origin!r}")

    def problem(self, *, size: int | None = None) -> Problem:
        """What a model trained on this set eats and emits: for an image set, its
        channels and classes at ``size`` pixels (default: its native side)."""
        if self.modality != "images" or self.channels is None or self.classes is None:
            raise DataError(f"dataset {self.name!r} ({self.modality}) gives no image-classification problem")
        side = size or self.size
        if side is None:
            raise DataError(f"dataset {self.name!r} has no native size: pass size=")
        return ImageClassification(channels=self.channels, size=side, classes=self.classes)

    def describe(self) -> dict[str, object]:
        """The record's plain fields (for pages and JSON)."""
        return {"name": self.name, "title": self.title, "modality": self.modality, "source": self.source,
                "licence": self.licence, "origin": self.origin, "offline": self.offline,
                "channels": self.channels, "size": self.size, "classes": self.classes, "fallback": self.fallback}


datasets: Registry[DatasetInfo] = Registry("dataset", builtins=False)


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    if info.fallback is not None and info.fallback not in datasets:
        raise ValueError(f"dataset {info.name!r}: fallback {info.fallback!r} is not registered")
    return datasets.add(info.name, info)


def dataset_info(name: str) -> DatasetInfo:
    """The record of ``name``; :class:`DataError` for an unknown name."""
    if name not in datasets:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(dataset_names())}")
    return datasets.get(name)


def dataset_names(*, modality: str | None = None) -> tuple[str, ...]:
    """Registered names (sorted), optionally of one modality."""
    return tuple(n for n, info in datasets.items() if modality is None or info.modality == modality)


def data_dir(root: "str | os.PathLike[str] | None" = None) -> Path:
    """Where standard sets are looked for: ``root``, else ``$FRONTIER_DATA_DIR``
    (default ``~/.cache/frontier/data``), in torchvision's layout."""
    return Path(root or os.environ.get("FRONTIER_DATA_DIR", Path.home() / ".cache" / "frontier" / "data"))
