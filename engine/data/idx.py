"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al.), read with numpy.

A file is a big-endian header (two zero bytes, a type code, the number of
dimensions, one uint32 per dimension) and the raw array; ``.gz`` files are
read through gzip. Nothing is unpickled.
"""
from __future__ import annotations

import functools
import gzip
import math
import struct
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import DataError

__all__ = ["read_idx", "idx_files", "find_idx_folder"]

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.int16, 0x0C: np.int32, 0x0D: np.float32, 0x0E: np.float64}
#: (images, labels) file stems of each split, as distributed
_STEMS = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file (optionally gzipped); read-only, cached per file."""
    p = Path(path).resolve()
    st = p.stat()
    return _read_idx(str(p), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_idx(path: str, _size: int, _mtime: int) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    dtype = np.dtype(_TYPES[raw[2]]).newbyteorder(">")
    count = math.prod(dims)
    if len(raw) - head != count * dtype.itemsize:
        raise DataError(f"{path}: {len(raw) - head} data bytes, the header says {count * dtype.itemsize}")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=head).reshape(dims).astype(dtype.newbyteorder("="))
    arr.setflags(write=False)
    return arr


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def idx_files(folder: Path, *, train: bool) -> tuple[Path, Path] | None:
    """The (images, labels) files of a split in ``folder`` (plain or ``.gz``), or None."""
    images, labels = (_file(folder, s) for s in _STEMS[train])
    return (images, labels) if images is not None and labels is not None else None


def find_idx_folder(folders: Iterable[Path]) -> Path | None:
    """The first of ``folders`` holding both splits."""
    for folder in folders:
        if idx_files(folder, train=True) and idx_files(folder, train=False):
            return folder
    return None
