"""Exports of a network: ONNX (the legacy exporter: no onnxscript needed) and
TorchScript (traced), and its blocks for drawing."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..problems import Problem

__all__ = ["export_onnx", "export_torchscript", "export_model", "blocks", "EXPORT_FORMATS"]

EXPORT_FORMATS = ("safetensors", "onnx", "torchscript")
_IO_NAMES = {"image-classification": (["image"], ["logits"]),
             "sequence-to-sequence": (["source", "target"], ["logits"]),
             "pose-forecast": (["poses"], ["future"])}


def _names(problem: Problem | None, n_inputs: int) -> tuple[list[str], list[str]]:
    ins, outs = _IO_NAMES.get(problem.kind if problem else "", ([f"input{i}" for i in range(n_inputs)], ["output"]))
    return ins[:n_inputs], outs


def export_onnx(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path,
                problem: Problem | None = None) -> Path:
    """An ONNX file of ``model`` traced on ``example_inputs``, batch dimension dynamic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = tuple(example_inputs)
    ins, outs = _names(problem, len(x))
    dyn = {n: {0: "batch"} for n in (*ins, *outs)}
    with torch.no_grad():
        torch.onnx.export(model.eval(), x, str(path), input_names=ins, output_names=outs, dynamic_axes=dyn,
                          opset_version=17, dynamo=False)
    return path


def export_torchscript(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.jit.trace(model.eval(), tuple(example_inputs)).save(str(path))
    return path


def export_model(model: nn.Module, example_inputs: Sequence[torch.Tensor], folder: Path, stem: str,
                 problem: Problem | None = None) -> tuple[Path, Path]:
    """ONNX and TorchScript files of ``model``: ``folder/stem.onnx``, ``folder/stem.pt``."""
    return (export_onnx(model, example_inputs, Path(folder) / f"{stem}.onnx", problem),
            export_torchscript(model, example_inputs, Path(folder) / f"{stem}.pt"))


def _units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The drawable units: top-level children, with a Sequential of blocks
    (torchvision's ``features``, a ``blocks`` list) opened one level; a
    Sequential of plain layers (a conv-BN-ReLU stem) stays one unit."""
    out = []
    for name, child in model.named_children():
        if (isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) > 1
                and any(len(list(c.children())) for c in child)):
            out.extend((f"{name}.{n}", c) for n, c in child.named_children())
        else:
            out.append((name, child))
    return out


def blocks(model: nn.Module, example_inputs: Sequence[torch.Tensor]) -> list[dict[str, Any]]:
    """The network block by block, in execution order: name, type, a short
    description (the block's own ``extra_repr`` where it has one), output shape,
    parameters and MACs (from the cost model's leaf layers inside the block)."""
    from ..hardware.cost import profile_model

    units = _units(model)
    shapes: dict[str, list[int]] = {}
    order: list[str] = []
    hooks = []
    for name, mod in units:
        def hook(_m, _i, out, name=name):
            t = out[0] if isinstance(out, (tuple, list)) else out
            if isinstance(t, torch.Tensor) and name not in shapes:
                shapes[name] = list(t.shape)
                order.append(name)
        hooks.append(mod.register_forward_hook(hook))
    try:
        cost = profile_model(model.eval(), tuple(example_inputs))
    finally:
        for h in hooks:
            h.remove()
    mods = dict(units)
    rows = []
    for name in order + [n for n, _ in units if n not in shapes]:
        mod = mods[name]
        layers = [lc for lc in cost.layers if lc.name == name or lc.name.startswith(name + ".")]
        desc = mod.extra_repr() if type(mod).extra_repr is not nn.Module.extra_repr else ""
        rows.append({"name": name, "type": type(mod).__name__, "detail": desc[:200],
                     "out_shape": shapes.get(name), "params": sum(p.numel() for p in mod.parameters()),
                     "macs": int(sum(lc.macs for lc in layers)), "layers": len(layers)})
    return rows
