"""An agent's (or any) state as files without pickle: tensors and arrays in
``state.safetensors``, everything else in ``state.json``, written to a staging
name and renamed, so a checkpoint is whole or absent.

    save_state(agent.state_dict() | {"episode": 12, "history": [...]}, folder)
    state = load_state(folder)            # None when there is none
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["save_state", "load_state"]

_T, _A = "__tensor__", "__array__"


def _split(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()
        return {_T: path}
    if isinstance(obj, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {_A: path}
    if isinstance(obj, dict):
        return {"__dict__": [[_split(k, tensors, f"{path}.k{i}"), _split(v, tensors, f"{path}.{i}")]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a {type(obj).__name__} at {path}")


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _T in obj:
            return tensors[obj[_T]]
        if _A in obj:
            return tensors[obj[_A]].numpy()
        if "__dict__" in obj:
            return {_join(k, tensors): _join(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_state(state: dict[str, Any], folder: str | Path) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        tensors: dict[str, torch.Tensor] = {}
        doc = _split(state, tensors, "s")
        save_file(tensors, str(staging / "state.safetensors"))
        (staging / "state.json").write_text(json.dumps(doc), encoding="utf-8")
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            os.rename(folder, old)
        os.rename(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_state(folder: str | Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none or it is unreadable."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        doc = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        tensors = load_file(str(folder / "state.safetensors"))
    except (OSError, ValueError, RuntimeError):
        return None
    try:
        return _join(doc, tensors)
    except (KeyError, TypeError):
        return None
