"""Cost model for any ``nn.Module``: per-layer MACs, params, weight and
activation bytes, and peak activation memory (inference and training).

Counts come from one forward pass with hooks on the leaf modules, so they hold
for any network built from standard layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LayerCost", "ModelCost", "profile_model", "BYTES"]

BYTES = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5, "int2": 0.25}


@dataclass
class LayerCost:
    name: str
    op: str
    macs: int
    params: int
    input_elems: int
    output_elems: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    #: free-form op description (kernel, stride, groups …) for lookup tables
    attrs: dict = field(default_factory=dict)

    def weight_bytes(self, precision: str = "fp32") -> float:
        return self.params * BYTES[precision]

    def activation_bytes(self, precision: str = "fp32") -> float:
        return (self.input_elems + self.output_elems) * BYTES[precision]


@dataclass
class ModelCost:
    layers: list[LayerCost]
    input_shape: tuple[int, ...]
    params: int
    macs: int
    #: largest input+output activation of any layer (bytes, fp32, one batch)
    peak_activation_bytes: float
    #: activations that training keeps for backward (bytes, fp32): every layer's input
    training_activation_bytes: float

    def summary(self) -> dict[str, float]:
        return {"params": self.params, "macs": self.macs,
                "peak_activation_bytes": self.peak_activation_bytes,
                "training_activation_bytes": self.training_activation_bytes}


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, dict]:
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1]
        macs = out.numel() * (module.in_channels // module.groups) * k
        return macs, {"kernel": module.kernel_size[0], "stride": module.stride[0], "groups": module.groups,
                      "cin": module.in_channels, "cout": module.out_channels}
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features, {"cin": module.in_features, "cout": module.out_features}
    if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)):
        return out.numel(), {}
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)):
        return inp.numel(), {}
    if isinstance(module, nn.MultiheadAttention):
        return 0, {}
    return 0, {}


@torch.no_grad()
def profile_model(model: nn.Module, input_shape: tuple[int, ...]) -> ModelCost:
    """Run one forward pass on zeros of ``input_shape`` (batch included)."""
    layers: list[LayerCost] = []
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, args, out):
        inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if inp is None or not isinstance(out, torch.Tensor):
            return
        macs, attrs = _macs(module, inp, out)
        params = sum(p.numel() for p in module.parameters(recurse=False))
        layers.append(LayerCost(names.get(module, "?"), type(module).__name__, int(macs), int(params),
                                inp.numel(), out.numel(), tuple(inp.shape), tuple(out.shape), attrs))

    for m in model.modules():
        if len(list(m.children())) == 0:
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        model(torch.zeros(input_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    peak = max((lc.activation_bytes() for lc in layers), default=0.0)
    train_act = sum(lc.input_elems * 4.0 for lc in layers)
    return ModelCost(layers, tuple(input_shape), int(params), int(sum(lc.macs for lc in layers)), peak, train_act)
