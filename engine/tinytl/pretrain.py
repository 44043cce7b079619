"""The pre-trained feature extractor: trained once on a source task, cached as safetensors.

The cache lives in ``$FRONTIER_CACHE_DIR`` (default ``./var/cache``) under a
file name keyed by a hash of everything that determines the weights (the
architecture, the source data and the training settings); the architecture and
the source settings travel in the file's metadata. Loading never unpickles:
``safetensors.torch.load_file`` only. Users with their own weights point to a
``.safetensors`` file instead (:func:`load_weights`).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.cache import cache_dir
from engine.data import load_train_test, make_loaders
from engine.seeding import numerics_key
from engine.training import train_model

from .mobilenet import MobileNet, MobileNetArch, build_mobilenet

__all__ = ["SourceTask", "pretrained", "load_weights", "save_weights", "WeightsError"]

_VERSION = 2  # 2: blocks are engine.nn.MBConvBlock (new state-dict keys)


class WeightsError(ValueError):
    pass


@dataclass(frozen=True)
class SourceTask:
    dataset: str = "mnist-5k"
    classes: str = "0-4"
    resolution: int = 32
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.05
    train_limit: int = 0  # 0: all
    seed: int = 0


def _key(arch: MobileNetArch, task: SourceTask) -> str:
    # the numerics (threads, torch version) too: a cache hit gives the weights a fresh training here would
    blob = json.dumps({"arch": arch.to_dict(), "task": asdict(task), **numerics_key(), "v": _VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def save_weights(model: MobileNet, path: str | Path, *, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s state (parameters and buffers) atomically with its architecture in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"arch": json.dumps(model.arch.to_dict()), **(metadata or {})}
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_weights(path: str | Path, arch: MobileNetArch | None = None) -> tuple[MobileNet, dict[str, str]]:
    """A network from a safetensors file. The architecture comes from the file's
    metadata when present, else from ``arch`` (the classifier size from the file)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        raise WeightsError(f"{path} is not a .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise WeightsError(f"cannot read {path}: {e}") from None
    if "arch" in meta:
        arch = MobileNetArch.from_dict(json.loads(meta["arch"]))
    elif arch is None:
        raise WeightsError(f"{path} has no architecture in its metadata; give one")
    if "classifier.weight" in state:
        arch = MobileNetArch.from_dict({**arch.to_dict(), "num_classes": int(state["classifier.weight"].shape[0])})
    model = build_mobilenet(arch)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or bad:
        raise WeightsError(f"{path} does not match the architecture: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}, wrong shapes {bad[:5]}")
    model.load_state_dict(state)
    return model, meta


def pretrained(arch: MobileNetArch, task: SourceTask, *, progress: Callable[[float, str], None] | None = None,
               directory: str | Path | None = None) -> tuple[MobileNet, dict[str, object]]:
    """The feature extractor for ``task``: loaded from the cache, or trained with
    ``engine.training.train_model`` and cached. Returns the model and facts about it."""
    folder = Path(directory) if directory is not None else cache_dir()
    path = folder / f"tinytl-mobilenet-{_key(arch, task)}.safetensors"
    if path.is_file():
        try:
            model, meta = load_weights(path)
            return model, {"cached": True, "path": str(path), "source_accuracy": float(meta.get("accuracy", "nan"))}
        except WeightsError:
            pass  # a damaged cache file is rebuilt
    train, val = load_train_test(task.dataset, classes=task.classes, train_limit=task.train_limit, seed=task.seed,
                                 image_size=task.resolution, channels=arch.in_channels)
    arch = MobileNetArch.from_dict({**arch.to_dict(), "num_classes": train.num_classes})
    model = build_mobilenet(arch, seed=task.seed)
    tl, vl = make_loaders(train, val, batch_size=task.batch_size, seed=task.seed)  # normalised with train's stats
    cb = None
    if progress is not None:
        cb = lambda f, msg, _m: progress(f, "pre-training: " + msg)  # noqa: E731
    hist = train_model(model, tl.dataset, epochs=task.epochs, batch_size=task.batch_size, lr=task.lr,
                       optimizer="sgd", weight_decay=4e-5, seed=task.seed, drop_last=True,
                       val_data=vl.dataset if vl is not None else None, progress=cb)
    acc = hist.val_acc[-1] if hist.val_acc else float("nan")
    save_weights(model, path, metadata={"source": json.dumps(asdict(task)), "accuracy": f"{acc:.6f}"})
    return model, {"cached": False, "path": str(path), "source_accuracy": acc}
