"""Transfer-learning methods and the converter to memory-efficient layers.

A method decides which parameters train (``apply_method``); the converter
(``make_efficient``) then rewrites the frozen parts so autograd saves only what
the trainable ones need. ``make_stock`` is the plain-PyTorch counterpart (frozen
batch norms use running statistics, nothing else changes), kept to show what
stock autograd saves for the same method.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import EvalBatchNorm2d, FrozenBatchNorm2d, FrozenConv2d, MaskedReLU, MeanPool
from .lite_residual import LiteResidual, LiteSpec, attach_lite_residuals

__all__ = ["METHODS", "METHOD_TITLES", "apply_method", "classifier_of", "make_efficient", "make_stock", "prepare",
           "trainable_params"]

METHOD_TITLES: dict[str, str] = {
    "ft-full": "FT-Full: fine-tune every weight",
    "ft-last": "FT-Last: the classifier only",
    "ft-norm-last": "FT-Norm+Last: batch norms and the classifier",
    "tinytl-b": "TinyTL-B: biases and the classifier",
    "tinytl-lb": "TinyTL-L+B: lite residuals, biases and the classifier",
}
METHODS: tuple[str, ...] = tuple(METHOD_TITLES)
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)


def classifier_of(model: nn.Module) -> nn.Module:
    """The last layer: ``model.classifier`` (our MobileNet, torchvision's), or
    ``model.head.linear`` (a static MBConv network, e.g. a super-net's sub-net)."""
    head = getattr(model, "classifier", None)
    if head is None:
        head = getattr(getattr(model, "head", None), "linear", None)
    if not isinstance(head, nn.Module):
        raise ValueError("the model needs a `classifier` module (the last layer) or a `head.linear` one")
    return head


def apply_method(model: nn.Module, method: str, *, lite: LiteSpec = LiteSpec(),
                 input_shape: tuple[int, int, int] | None = None,
                 generator: torch.Generator | None = None, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (``model`` itself with ``inplace``) with ``requires_grad``
    set for ``method`` (and lite residual modules attached for ``tinytl-lb``).
    Layers are still stock ones."""
    if method not in METHOD_TITLES:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    m = model if inplace else copy.deepcopy(model)
    if method == "tinytl-lb":
        attach_lite_residuals(m, lite, input_shape=input_shape, generator=generator)
    full = method == "ft-full"
    for p in m.parameters():
        p.requires_grad_(full)
    if method == "ft-norm-last":
        for mod in m.modules():
            if isinstance(mod, _NORMS):
                for p in mod.parameters(recurse=False):
                    p.requires_grad_(True)
    if method in ("tinytl-b", "tinytl-lb"):
        for name, p in m.named_parameters():
            if name.rsplit(".", 1)[-1] == "bias":
                p.requires_grad_(True)
    if method == "tinytl-lb":
        for mod in m.modules():
            if isinstance(mod, LiteResidual):
                mod.requires_grad_(True)
    classifier_of(m).requires_grad_(True)
    return m


def _frozen(module: nn.Module) -> bool:
    w = getattr(module, "weight", None)
    return w is None or not w.requires_grad


def make_efficient(model: nn.Module, *, int8: bool = False) -> nn.Module:
    """Rewrite ``model`` in place: frozen convolutions (with the frozen batch norm
    after them folded in) become :class:`FrozenConv2d`, other frozen batch norms
    :class:`FrozenBatchNorm2d`, ReLU/ReLU6 :class:`MaskedReLU`, and average pools
    with kernel == stride (or global) :class:`MeanPool`. Trainable layers stay."""
    for parent in list(model.modules()):
        children = list(parent.named_children())
        skip: set[str] = set()
        for i, (name, child) in enumerate(children):
            if name in skip:
                continue
            new: nn.Module | None = None
            if isinstance(child, nn.Conv2d) and _frozen(child) and not isinstance(child.padding, str):
                nxt = children[i + 1][1] if i + 1 < len(children) else None
                if (isinstance(parent, nn.Sequential) and isinstance(nxt, nn.BatchNorm2d) and _frozen(nxt)
                        and nxt.track_running_stats):
                    bias_trainable = nxt.bias is not None and nxt.bias.requires_grad
                    new = FrozenConv2d.from_conv(child, nxt, bias_trainable=bias_trainable, int8=int8)
                    setattr(parent, children[i + 1][0], nn.Identity())
                    skip.add(children[i + 1][0])
                else:
                    bias_trainable = child.bias is not None and child.bias.requires_grad
                    new = FrozenConv2d.from_conv(child, None, bias_trainable=bias_trainable, int8=int8)
            elif isinstance(child, nn.BatchNorm2d) and _frozen(child) and child.track_running_stats:
                new = FrozenBatchNorm2d(child, shift_trainable=child.bias is not None and child.bias.requires_grad)
            elif isinstance(child, nn.ReLU6):
                new = MaskedReLU(6.0)
            elif isinstance(child, nn.ReLU):
                new = MaskedReLU(None)
            elif isinstance(child, nn.AdaptiveAvgPool2d) and child.output_size in (1, (1, 1)):
                new = _GlobalPool()
            elif (isinstance(child, nn.AvgPool2d) and child.kernel_size == child.stride
                  and child.padding in (0, (0, 0)) and isinstance(child.kernel_size, int) and not child.ceil_mode):
                new = MeanPool(child.kernel_size)
            if new is not None:
                setattr(parent, name, new)
    return model


class _GlobalPool(MeanPool):
    """``AdaptiveAvgPool2d(1)`` replacement (keeps dims, saves only the shape)."""

    def __init__(self):
        super().__init__(0)


def make_stock(model: nn.Module) -> nn.Module:
    """Plain PyTorch with frozen statistics for frozen batch norms, in place."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d) and _frozen(child) and not isinstance(child, EvalBatchNorm2d):
                setattr(parent, name, EvalBatchNorm2d.from_bn(child))
    return model


def prepare(model: nn.Module, method: str, *, efficient: bool = True, int8: bool = False,
            lite: LiteSpec = LiteSpec(), input_shape: tuple[int, int, int] | None = None,
            generator: torch.Generator | None = None) -> nn.Module:
    """``apply_method`` then ``make_efficient`` (or ``make_stock``)."""
    m = apply_method(model, method, lite=lite, input_shape=input_shape, generator=generator)
    return make_efficient(m, int8=int8) if efficient else make_stock(m)


def trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
