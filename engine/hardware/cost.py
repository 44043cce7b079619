"""Cost model for any ``nn.Module``: per-layer MACs, params, weight and
activation bytes at a given precision, and peak memory for inference and for
training.

Counts come from one forward pass, ``model(*example_inputs)`` (a problem's or
a space's example inputs), with hooks on the leaf modules, so they hold for
any network built from standard layers. Depthwise and grouped convolutions
count ``out_elems x cin/groups x k x k`` MACs.

Memory, for one batch:

- inference peak: the largest input + output activation of any layer (a chain
  executes one layer at a time), plus the weights when asked;
- training: the activations every layer saves for backward (its input) +
  params + their gradients + optimizer state (SGD momentum: 1 copy, Adam: 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

__all__ = ["LayerCost", "ModelCost", "TrainingMemory", "profile_model", "BYTES", "bits_of", "OPTIMIZER_STATES"]

BYTES = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5, "int2": 0.25}
#: optimizer state kept per parameter, in copies of the parameter tensor
OPTIMIZER_STATES = {"none": 0, "sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
#: leaf modules that do no work at inference
_FREE = ("Identity", "Dropout", "Dropout2d", "Flatten")


def bits_of(precision: str | int | float) -> float:
    """Bits per element of a precision name (``"int8"`` → 8) or a bit count."""
    if isinstance(precision, (int, float)) and not isinstance(precision, bool):
        if not 1 <= precision <= 64:
            raise ValueError(f"bit width must be in 1..64, got {precision}")
        return float(precision)
    if precision not in BYTES:
        raise ValueError(f"unknown precision {precision!r} (one of {', '.join(BYTES)})")
    return BYTES[precision] * 8


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

    @property
    def depthwise(self) -> bool:
        g = self.attrs.get("groups", 1)
        return g > 1 and g == self.attrs.get("cin") == self.attrs.get("cout", g)

    @property
    def is_free(self) -> bool:
        """No work at inference (identity, dropout)."""
        return self.op in _FREE

    def weight_bytes(self, precision: str | int | float = "fp32") -> float:
        return self.params * bits_of(precision) / 8

    def activation_bytes(self, precision: str | int | float = "fp32") -> float:
        return (self.input_elems + self.output_elems) * bits_of(precision) / 8

    def memory_bytes(self, weight_bits: float = 32, activation_bits: float = 32) -> float:
        """Bytes moved by the layer: weights read once, input read, output written."""
        return self.weight_bytes(weight_bits) + self.activation_bytes(activation_bits)


@dataclass(frozen=True)
class TrainingMemory:
    activations: float
    params: float
    grads: float
    optimizer_state: float

    @property
    def total(self) -> float:
        return self.activations + self.params + self.grads + self.optimizer_state


@dataclass
class ModelCost:
    layers: list[LayerCost]
    #: shape of the (first) input, batch included
    input_shape: tuple[int, ...]
    params: int
    macs: int
    #: largest input+output activation of any layer (bytes, fp32, one batch)
    peak_activation_bytes: float
    #: activations that training keeps for backward (bytes, fp32): every layer's input
    training_activation_bytes: float
    #: shapes of every input of the forward pass
    input_shapes: tuple[tuple[int, ...], ...] = ()

    def summary(self) -> dict[str, float]:
        return {"params": self.params, "macs": self.macs,
                "peak_activation_bytes": self.peak_activation_bytes,
                "training_activation_bytes": self.training_activation_bytes}

    def weight_bytes(self, precision: str | int | float = "fp32") -> float:
        return self.params * bits_of(precision) / 8

    def peak_activation_at(self, precision: str | int | float = "fp32") -> float:
        """Inference peak activation memory (bytes) at ``precision``."""
        return self.peak_activation_bytes * bits_of(precision) / 32

    def inference_memory_bytes(self, precision: str | int | float = "fp32") -> float:
        """Weights + peak activation at ``precision``."""
        return self.weight_bytes(precision) + self.peak_activation_at(precision)

    def training_memory(self, precision: str | int | float = "fp32", optimizer: str = "sgd-momentum",
                        trainable_params: int | None = None) -> TrainingMemory:
        """Training memory of one batch: saved activations + params + grads +
        optimizer state. ``trainable_params`` (default: all) receive grads and
        optimizer state (TinyTL trains only biases: pass their count)."""
        if optimizer not in OPTIMIZER_STATES:
            raise ValueError(f"unknown optimizer {optimizer!r} (one of {', '.join(OPTIMIZER_STATES)})")
        scale = bits_of(precision) / 8
        trainable = self.params if trainable_params is None else trainable_params
        return TrainingMemory(activations=self.training_activation_bytes * scale / 4.0,
                              params=self.params * scale, grads=trainable * scale,
                              optimizer_state=trainable * scale * OPTIMIZER_STATES[optimizer])

    def training_memory_bytes(self, precision: str | int | float = "fp32", optimizer: str = "sgd-momentum") -> float:
        return self.training_memory(precision, optimizer).total


def _attention_macs(module: nn.MultiheadAttention, args: tuple) -> int:
    q = args[0]
    k = args[1] if len(args) > 1 and isinstance(args[1], torch.Tensor) else q
    e = module.embed_dim
    batch_first = getattr(module, "batch_first", False)
    lq = q.shape[1] if (batch_first and q.dim() == 3) else q.shape[0]
    lk = k.shape[1] if (batch_first and k.dim() == 3) else k.shape[0]
    n = q.numel() // (lq * e)
    kdim = module.kdim or e
    vdim = module.vdim or e
    proj = lq * e * e + lk * kdim * e + lk * vdim * e + lq * e * e  # q, k, v, out
    attn = 2 * lq * lk * e  # scores and weighted sum
    return int(n * (proj + attn))


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor, args: tuple = ()) -> tuple[int, dict]:
    own = getattr(module, "cost_macs", None)
    if callable(own):  # a layer of its own kind says what it computes (e.g. TinyTL's frozen convolution)
        macs, attrs = own(inp, out)
        return int(macs), dict(attrs)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        k = math.prod(module.kernel_size)
        macs = out.numel() * (module.in_channels // module.groups) * k
        return macs, {"kernel": module.kernel_size[0], "stride": module.stride[0], "groups": module.groups,
                      "cin": module.in_channels, "cout": module.out_channels}
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        k = math.prod(module.kernel_size)
        macs = inp.numel() * (module.out_channels // module.groups) * k
        return macs, {"kernel": module.kernel_size[0], "stride": module.stride[0], "groups": module.groups,
                      "cin": module.in_channels, "cout": module.out_channels, "transposed": True}
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features, {"cin": module.in_features, "cout": module.out_features}
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)):
        return out.numel(), {}
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool1d)):
        return inp.numel(), {}
    if isinstance(module, nn.MultiheadAttention):
        return _attention_macs(module, args), {"heads": module.num_heads, "embed_dim": module.embed_dim}
    return 0, {}


def _own_params(module: nn.Module) -> int:
    """Weights of ``module`` itself: its parameters, plus the frozen weights a
    layer keeps as buffers and declares with ``cost_params()``."""
    own = getattr(module, "cost_params", None)
    extra = int(own()) if callable(own) else 0
    return sum(p.numel() for p in module.parameters(recurse=False)) + extra


@torch.no_grad()
def profile_model(model: nn.Module, example_inputs: Sequence[torch.Tensor] | torch.Tensor) -> ModelCost:
    """Run ``model(*example_inputs)`` once (e.g. ``problem.example_inputs()``,
    ``space.example_inputs(arch, problem)``; a single tensor is one input) and
    count each leaf layer. The inputs are moved to the model's device."""
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ValueError("example_inputs must be a tensor or a non-empty sequence of tensors")
    layers: list[LayerCost] = []
    hooks = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, args, out):
        inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
            out = out[0]  # nn.MultiheadAttention returns (output, weights)
        if inp is None or not isinstance(out, torch.Tensor):
            return
        macs, attrs = _macs(module, inp, out, args)
        params = _own_params(module)
        layers.append(LayerCost(names.get(module, "?"), type(module).__name__, int(macs), int(params),
                                inp.numel(), out.numel(), tuple(inp.shape), tuple(out.shape), attrs))

    for m in model.modules():
        if len(list(m.children())) == 0 or isinstance(m, nn.MultiheadAttention):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        model(*(t.to(device) for t in inputs))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    # the children of an attention module are counted in its own MACs
    attn = [n for m, n in names.items() if isinstance(m, nn.MultiheadAttention)]
    layers = [lc for lc in layers if not any(lc.name.startswith(a + ".") for a in attn)]
    params = sum(_own_params(m) for m in model.modules())
    peak = max((lc.activation_bytes() for lc in layers if not lc.is_free), default=0.0)
    train_act = sum(lc.input_elems * 4.0 for lc in layers if not lc.is_free)
    shapes = tuple(tuple(t.shape) for t in inputs)
    return ModelCost(layers, shapes[0], int(params), int(sum(lc.macs for lc in layers)), peak, train_act, shapes)
