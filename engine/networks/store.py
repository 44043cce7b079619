"""A trained network on disk: ``network.json`` (spec, problem, dataset,
metrics with their sources, parent) and ``weights.safetensors``.

    folder = save_network(model, Network(name="winner", spec=spec, problem=problem, dataset="mnist-5k",
                                         metrics={"accuracy": 0.93, "accuracy_source": "fine-tuned"},
                                         made_by="evolution search winner, fine-tuned 1 epoch"), out_dir)
    net, model = load_network(folder)       # rebuilt from the spec, every tensor checked

Nothing is ever unpickled: the module is rebuilt from its spec
(:mod:`.builders`) and the tensors come from safetensors. A load compares
every tensor's name and shape with the rebuilt module and names each that
differs (:class:`NetworkMismatch`). A folder is written under a temporary name
and renamed into place, so it is whole or absent.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..problems import Problem, problem_from_dict
from .builders import NetworkSpec, SpecError, build_network, check_spec

__all__ = ["Network", "NetworkError", "NetworkMismatch", "save_network", "load_network", "read_network",
           "check_tensors", "read_safetensors", "list_networks", "FORMAT", "META_FILE", "WEIGHTS_FILE",
           "MAX_WEIGHTS_BYTES", "slugify"]

FORMAT = "frontier-network/1"
META_FILE = "network.json"
WEIGHTS_FILE = "weights.safetensors"
#: bound on a weights file read from a user (2 GiB: larger than any network here trains)
MAX_WEIGHTS_BYTES = 2 * 2**30
_SLUG = re.compile(r"[^a-z0-9._-]+")


class NetworkError(ValueError):
    """A network that cannot be read or built; ``field`` says which part."""

    def __init__(self, message: str, field: str = "network"):
        super().__init__(message)
        self.field = field


class NetworkMismatch(NetworkError):
    """The weights do not fit the module the spec builds."""

    def __init__(self, missing: list[str], unexpected: list[str], wrong: list[tuple[str, tuple, tuple]]):
        parts = []
        if wrong:
            parts.append("wrong shapes: " + ", ".join(f"{k} is {tuple(got)} but the architecture needs {tuple(want)}"
                                                      for k, got, want in wrong[:5]))
        if missing:
            parts.append("missing tensors: " + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
        if unexpected:
            parts.append("tensors the architecture does not have: " + ", ".join(unexpected[:5])
                         + (" …" if len(unexpected) > 5 else ""))
        super().__init__("the weights do not match the architecture: " + "; ".join(parts), "weights")
        self.missing, self.unexpected, self.wrong = missing, unexpected, wrong


@dataclass
class Network:
    """What a network is, apart from its tensors."""

    name: str
    spec: NetworkSpec
    problem: Problem
    dataset: str = ""
    #: metrics as candidates report them: ``accuracy`` beside ``accuracy_source`` …
    metrics: dict[str, Any] = field(default_factory=dict)
    #: what made it from its parent ("pruned by AMC to 50% FLOPs"; "trained from scratch, 3 epochs")
    made_by: str = ""
    technique: str = ""
    #: the parent network's id and name, or None
    parent: dict[str, str] | None = None
    #: how an input is prepared (channels, resize, normalisation mean/std), as the trainer did it
    preprocess: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "id": self.id, "name": self.name, "spec": self.spec.to_dict(),
                "problem": self.problem.to_dict(), "dataset": self.dataset, "metrics": self.metrics,
                "made_by": self.made_by, "technique": self.technique, "parent": self.parent,
                "preprocess": self.preprocess, "created_at": self.created_at, "weights": WEIGHTS_FILE}

    @classmethod
    def from_dict(cls, d: Any) -> "Network":
        if not isinstance(d, dict):
            raise NetworkError(f"{META_FILE} must hold an object")
        if d.get("format") != FORMAT:
            raise NetworkError(f"{META_FILE} is not a {FORMAT} file (format {str(d.get('format'))[:40]!r})", "format")
        try:
            problem = problem_from_dict(d.get("problem"))
        except (TypeError, ValueError) as e:
            raise NetworkError(f"bad problem: {e}", "problem") from None
        try:
            spec = NetworkSpec.from_dict(d.get("spec"))
        except SpecError as e:
            raise NetworkError(str(e), "spec") from None
        nid = d.get("id")
        if not isinstance(nid, str) or not re.fullmatch(r"[0-9a-f]{32}", nid):
            raise NetworkError("id must be 32 hex digits", "id")
        parent = d.get("parent")
        if parent is not None and not (isinstance(parent, dict) and isinstance(parent.get("id"), str)):
            raise NetworkError("parent must be null or an object with an id", "parent")
        metrics = d.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise NetworkError("metrics must be an object", "metrics")
        preprocess = d.get("preprocess") or {}
        if not isinstance(preprocess, dict) or len(json.dumps(preprocess)) > 10_000:
            raise NetworkError("preprocess must be an object of at most 10,000 bytes of JSON", "preprocess")
        return cls(name=_text(d.get("name"), "name", 200) or "network", spec=spec, problem=problem,
                   dataset=_text(d.get("dataset", ""), "dataset", 100), metrics=_clean(metrics),
                   made_by=_text(d.get("made_by", ""), "made_by", 500),
                   technique=_text(d.get("technique", ""), "technique", 50),
                   parent={k: str(v)[:200] for k, v in parent.items()} if parent else None,
                   preprocess=preprocess, id=nid, created_at=_text(d.get("created_at", ""), "created_at", 40))


def _text(v: Any, name: str, limit: int) -> str:
    if not isinstance(v, str):
        raise NetworkError(f"{name} must be text", name)
    if len(v) > limit or "\x00" in v:
        raise NetworkError(f"{name} must be at most {limit} characters, without NUL", name)
    return v


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if hasattr(v, "item") and callable(v.item):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        if v is None or isinstance(v, (bool, int, float)):
            out[str(k)[:100]] = v
        else:
            out[str(k)[:100]] = str(v)[:500]
    return out


def slugify(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-.")[:80] or "network"


def check_tensors(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Raise :class:`NetworkMismatch` unless ``tensors`` has exactly the
    module's state (parameters and buffers), each of the same shape."""
    own = module.state_dict()
    missing = [k for k in own if k not in tensors]
    unexpected = sorted(k for k in tensors if k not in own)
    wrong = [(k, tuple(tensors[k].shape), tuple(own[k].shape)) for k in own
             if k in tensors and tuple(tensors[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise NetworkMismatch(missing, unexpected, wrong)


def read_safetensors(path: str | Path, *, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a file that is not one (a pickle
    renamed ``.safetensors``, a truncated header) is a :class:`NetworkError`."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"no weights file {path.name}", "weights")
    size = path.stat().st_size
    if size > max_bytes:
        raise NetworkError(f"the weights file is {size:,} bytes; at most {max_bytes:,}", "weights")
    with open(path, "rb") as fh:
        head = fh.read(8)
    # the format starts with the header's length (little-endian u64), then a JSON object
    if len(head) < 8 or int.from_bytes(head, "little") > min(size - 8, 100 * 2**20):
        raise NetworkError("the weights file is not a safetensors file (a pickle or another format?)", "weights")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise NetworkError(f"the weights file is not a valid safetensors file: {str(e)[:200]}", "weights") from None


def save_network(module: nn.Module, network: Network, parent_dir: str | Path, *, folder_name: str | None = None
                 ) -> Path:
    """Write ``network`` and ``module``'s state into ``parent_dir/<folder_name>``
    (default: the network's name and a short id) and return the folder."""
    from safetensors.torch import save_file

    try:
        spec = check_spec(network.spec, network.problem)
    except SpecError as e:
        raise NetworkError(str(e), "spec") from None
    network.spec = spec
    network.metrics = _clean(network.metrics)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    check_tensors(build_network(spec, network.problem), tensors)  # what load will check, before anything is written
    parent_dir = Path(parent_dir)
    parent_dir.mkdir(parents=True, exist_ok=True)
    out = parent_dir / (folder_name or f"{slugify(network.name)}-{network.id[:8]}")
    staging = parent_dir / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT, "id": network.id})
        (staging / META_FILE).write_text(json.dumps(network.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def read_network(folder: str | Path) -> Network:
    """The network's description alone (no tensors read)."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise NetworkError(f"{folder} holds no {META_FILE}: not a saved network folder")
    if path.stat().st_size > 1_000_000:
        raise NetworkError(f"{META_FILE} is over 1 MB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise NetworkError(f"{META_FILE} is not valid JSON: {str(e)[:200]}") from None
    return Network.from_dict(data)


def load_network(folder: str | Path) -> tuple[Network, nn.Module]:
    """The network and its module rebuilt from the spec with the saved weights
    (in eval mode)."""
    net = read_network(folder)
    try:
        module = build_network(net.spec, net.problem)
    except SpecError as e:
        raise NetworkError(str(e), "spec") from None
    tensors = read_safetensors(Path(folder) / WEIGHTS_FILE)
    check_tensors(module, tensors)
    module.load_state_dict(tensors)
    return net, module.eval()


def list_networks(root: str | Path) -> list[tuple[Path, Network]]:
    """Every saved network under ``root`` (a results folder's ``networks/``, or
    any folder of network folders), oldest first; unreadable ones are skipped."""
    root = Path(root)
    found = []
    for meta in sorted(root.rglob(META_FILE)) if root.is_dir() else []:
        try:
            found.append((meta.parent, read_network(meta.parent)))
        except NetworkError:
            continue
    return sorted(found, key=lambda t: t[1].created_at)
