"""A saved network (:mod:`engine.networks`) as TinyTL's backbone.

TinyTL's methods work on MobileNetV2-style networks: its own MobileNet
(builder ``mobilenet``, or ``tinytl`` for one adapted before) and
torchvision's ``mobilenet_v2``, whose weights map one to one onto the same
layout (stem, 17 inverted residual blocks, the 1x1 feature mix, the
classifier; torchvision's classifier dropout holds no weights).
"""
from __future__ import annotations

from torch import nn

from ..networks import Network
from ..networks.builders import builders
from .mobilenet import PAPER_SETTINGS, MobileNet, MobileNetArch, build_mobilenet

__all__ = ["backbone_from_network", "BackboneError", "ACCEPTED"]

ACCEPTED = "torchvision mobilenet_v2 or a TinyTL MobileNet"


class BackboneError(ValueError):
    pass


def _from_torchvision_mobilenet_v2(module: nn.Module, width: float, classes: int) -> MobileNet:
    arch = MobileNetArch(width_mult=width, settings=PAPER_SETTINGS, last_channels=1280, num_classes=classes)
    out = build_mobilenet(arch)
    src, dst = list(module.state_dict().items()), out.state_dict()
    if len(src) != len(dst) or any(tuple(v.shape) != tuple(dst[k].shape) for (_, v), k in zip(src, dst)):
        raise BackboneError("the torchvision mobilenet_v2's tensors do not map onto TinyTL's MobileNet layout")
    out.load_state_dict({k: v for k, (_, v) in zip(dst, src)})
    return out


def backbone_from_network(net: Network, module: nn.Module) -> tuple[MobileNet, MobileNetArch]:
    """TinyTL's MobileNet with ``net``'s weights, or :class:`BackboneError` saying why not."""
    b, args = net.spec.builder, net.spec.args
    if b == "mobilenet" and isinstance(module, MobileNet):
        return module, module.arch
    if b == "torchvision" and args.get("model") == "mobilenet_v2":
        m = _from_torchvision_mobilenet_v2(module, float(args["width"]), net.problem.classes)
        return m, m.arch
    if b == "tinytl":  # adapted before: its MobileNet rebuilt and its weights where the layout kept them
        raise BackboneError(f"{net.name} was adapted by TinyTL already ({args.get('method')}); choose the network "
                            "it was adapted from")
    what = builders.get(b).describe(args) if b in builders else b
    raise BackboneError(f"TinyTL adapts MobileNetV2-style networks ({ACCEPTED}); {net.name} is {what}")


