"""Super-net checkpoints: weights in safetensors, the description in its
metadata. No pickle anywhere.

Checkpoints live in ``$FRONTIER_CACHE_DIR/checkpoints`` (default
``./var/cache/checkpoints``) so that later experiments can pick one by name.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..cache import cache_dir
from .model import MBConvSuperNet

__all__ = ["CheckpointInfo", "checkpoint_dir", "save_checkpoint", "load_checkpoint",
           "list_checkpoints", "checkpoint_path", "CheckpointError"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class CheckpointError(ValueError):
    pass


def checkpoint_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root) if root is not None else cache_dir("checkpoints")


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    path: Path
    meta: dict[str, Any]

    @property
    def label(self) -> str:
        acc = self.meta.get("largest_accuracy")
        acc_s = f", largest sub-net {float(acc):.1%}" if acc is not None else ""
        return f"{self.name} ({self.meta.get('dataset', '?')}{acc_s})"


def checkpoint_path(name: str, root: str | os.PathLike | None = None) -> Path:
    if not _NAME.match(name or ""):
        raise CheckpointError(f"checkpoint name {name!r} must be letters, digits, '.', '_' or '-' (at most 80)")
    return checkpoint_dir(root) / f"{name}.safetensors"


def save_checkpoint(net: MBConvSuperNet, name: str, *, meta: dict[str, Any] | None = None,
                    root: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> Path:
    """Write the super-net's weights and description; returns the file path."""
    out = Path(path) if path is not None else checkpoint_path(name, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    metadata = {"format": "frontier-supernet-1", "name": name,
                "description": json.dumps(net.describe()), "meta": json.dumps(meta or {})}
    tmp = out.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=metadata)
    os.replace(tmp, out)
    return out


def _read_meta(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata() or {}


def load_checkpoint(name_or_path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> tuple[MBConvSuperNet, dict]:
    """Rebuild a super-net from a checkpoint name (in the cache) or a file path."""
    p = Path(name_or_path)
    path = p if p.suffix == ".safetensors" and p.exists() else checkpoint_path(str(name_or_path), root)
    if not path.is_file():
        known = ", ".join(c.name for c in list_checkpoints(root)) or "none"
        raise CheckpointError(f"no super-net checkpoint {str(name_or_path)!r} (available: {known}); "
                              "train one with the 'supernet' technique")
    raw = _read_meta(path)
    if raw.get("format") != "frontier-supernet-1":
        raise CheckpointError(f"{path.name} is not a Frontier super-net checkpoint")
    net = MBConvSuperNet.from_description(json.loads(raw["description"]))
    net.load_state_dict(load_file(str(path)), strict=True)
    net.eval()
    return net, json.loads(raw.get("meta", "{}"))


def list_checkpoints(root: str | os.PathLike | None = None) -> list[CheckpointInfo]:
    """Every readable super-net checkpoint in the cache, newest first."""
    folder = checkpoint_dir(root)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.safetensors"), key=lambda q: q.stat().st_mtime, reverse=True):
        try:
            raw = _read_meta(path)
        except Exception:  # a foreign or truncated file is skipped, not fatal
            continue
        if raw.get("format") != "frontier-supernet-1":
            continue
        out.append(CheckpointInfo(path.stem, path, json.loads(raw.get("meta", "{}"))))
    return out
