"""The torchvision classification networks the model zoo benchmarks, and how
each one scales in width.

Width support, per family (``WIDTHS``):

==================== ============================ =====================================
model                width multipliers            how
==================== ============================ =====================================
mobilenet_v2         any in [0.25, 2.0]           ``width_mult`` (channels rounded to 8)
mobilenet_v3_small   any in [0.25, 2.0]           ``width_mult`` (channels rounded to 8)
mobilenet_v3_large   any in [0.25, 2.0]           ``width_mult`` (channels rounded to 8)
mnasnet              any in [0.25, 2.0]           depth multiplier ``alpha`` of
                                                  ``torchvision.models.MNASNet``
                                                  (torchvision names 0.5/0.75/1.0/1.3)
shufflenet_v2        0.5, 1.0, 1.5, 2.0           the x0_5 / x1_0 / x1_5 / x2_0 variants
resnet18             1.0 only                     no width variant
squeezenet1_1        1.0 only                     no width variant
efficientnet_b0      1.0 only                     (B1-B7 scale depth and resolution too)
==================== ============================ =====================================

Every network is built with ``weights=None`` (nothing is downloaded).

    model = build_model("mobilenet_v2", width=0.5, num_classes=10)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from torch import nn

__all__ = ["ModelFamily", "MODELS", "WIDTH_RANGE", "build_model", "supports_width", "width_support",
           "WidthError"]

#: Bounds of any width multiplier the zoo accepts.
WIDTH_RANGE: tuple[float, float] = (0.25, 2.0)


class WidthError(ValueError):
    """The model has no variant at that width."""


@dataclass(frozen=True)
class ModelFamily:
    name: str
    #: None: any width in WIDTH_RANGE; otherwise the discrete widths that exist
    widths: tuple[float, ...] | None
    #: builder(width, num_classes) -> nn.Module
    builder: Callable[[float, int], nn.Module]
    note: str


def _mobilenet_v2(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v2

    return mobilenet_v2(weights=None, width_mult=width, num_classes=num_classes)


def _mobilenet_v3_small(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v3_small

    return mobilenet_v3_small(weights=None, width_mult=width, num_classes=num_classes)


def _mobilenet_v3_large(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import mobilenet_v3_large

    return mobilenet_v3_large(weights=None, width_mult=width, num_classes=num_classes)


def _mnasnet(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import MNASNet

    return MNASNet(alpha=width, num_classes=num_classes)


_SHUFFLE = {0.5: "shufflenet_v2_x0_5", 1.0: "shufflenet_v2_x1_0", 1.5: "shufflenet_v2_x1_5",
            2.0: "shufflenet_v2_x2_0"}


def _shufflenet_v2(width: float, num_classes: int) -> nn.Module:
    import torchvision.models as tvm

    return getattr(tvm, _SHUFFLE[width])(weights=None, num_classes=num_classes)


def _resnet18(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    return resnet18(weights=None, num_classes=num_classes)


def _squeezenet1_1(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import squeezenet1_1

    return squeezenet1_1(weights=None, num_classes=num_classes)


def _efficientnet_b0(width: float, num_classes: int) -> nn.Module:
    from torchvision.models import efficientnet_b0

    return efficientnet_b0(weights=None, num_classes=num_classes)


MODELS: dict[str, ModelFamily] = {f.name: f for f in (
    ModelFamily("mobilenet_v2", None, _mobilenet_v2, "width_mult, channels rounded to multiples of 8"),
    ModelFamily("mobilenet_v3_small", None, _mobilenet_v3_small, "width_mult, channels rounded to multiples of 8"),
    ModelFamily("mobilenet_v3_large", None, _mobilenet_v3_large, "width_mult, channels rounded to multiples of 8"),
    ModelFamily("mnasnet", None, _mnasnet, "MNASNet depth multiplier alpha"),
    ModelFamily("shufflenet_v2", tuple(_SHUFFLE), _shufflenet_v2, "variants x0_5, x1_0, x1_5, x2_0"),
    ModelFamily("resnet18", (1.0,), _resnet18, "no width variant"),
    ModelFamily("squeezenet1_1", (1.0,), _squeezenet1_1, "no width variant"),
    ModelFamily("efficientnet_b0", (1.0,), _efficientnet_b0, "no width variant"),
)}


def _family(model: str) -> ModelFamily:
    try:
        return MODELS[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(MODELS)}") from None


def supports_width(model: str, width: float) -> bool:
    fam = _family(model)
    if fam.widths is None:
        return WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]
    return any(math.isclose(width, w) for w in fam.widths)


def width_support(model: str) -> str:
    """Which widths ``model`` has, in words (for messages and help text)."""
    fam = _family(model)
    if fam.widths is None:
        return f"any width from {WIDTH_RANGE[0]:g} to {WIDTH_RANGE[1]:g} ({fam.note})"
    return "width " + ", ".join(f"{w:g}" for w in fam.widths) + f" ({fam.note})"


def build_model(model: str, *, width: float = 1.0, num_classes: int = 10) -> nn.Module:
    """A randomly initialised torchvision network (``weights=None``), its
    last linear layer initialised N(0, 0.01) (see :func:`_init_head`).

    Raises :class:`WidthError` when the family has no variant at ``width``.
    Initialisation uses torch's global generator; seed it (or wrap the call
    in ``torch.random.fork_rng``) for repeatable weights.
    """
    fam = _family(model)
    if not supports_width(model, width):
        raise WidthError(f"{model} has no width {width:g}: {width_support(model)}")
    if fam.widths is not None:
        width = next(w for w in fam.widths if math.isclose(width, w))
    model = fam.builder(float(width), int(num_classes))
    _init_head(model)
    return model


def _init_head(model: nn.Module) -> None:
    """Give every family the same classifier start: last linear layer
    N(0, 0.01), bias 0. torchvision's MNASNet scales its head's init by
    fan_out = num_classes, which at 10 classes starts the logits around 70 and
    the loss near 12; the others are left close to what they had."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        nn.init.normal_(linears[-1].weight, 0.0, 0.01)
        if linears[-1].bias is not None:
            nn.init.zeros_(linears[-1].bias)
