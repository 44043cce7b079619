"""A MobileNetV2-style network (inverted residual blocks) described by plain data.

``MobileNetArch`` is JSON-serialisable (it keys the pre-trained cache and is
stored in the safetensors metadata); ``build_mobilenet(arch)`` returns a static
module built from :mod:`engine.nn`'s layers: a :class:`~engine.nn.ConvBNAct`
stem, one :class:`~engine.nn.MBConvBlock` per block, a 1x1
:class:`~engine.nn.ConvBNAct` feature mix and a ``classifier`` Linear (the
layout of torchvision's MobileNetV2: ``features``, then ``classifier``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from engine.nn import ConvBNAct, MBConvBlock, make_divisible

__all__ = ["MobileNetArch", "MobileNet", "build_mobilenet", "PAPER_SETTINGS", "TINY_SETTINGS",
           "PROXYLESS_MOBILE_SETTINGS"]

#: MobileNetV2 (Sandler et al. 2018): (expand t, channels c, repeats n, stride s)
PAPER_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
#: ProxylessNAS-Mobile (Cai et al. 2019), the backbone of TinyTL's Table 2, one
#: row per block as (expand t, channels c, 1, stride s, kernel k): its searched
#: kernels and expand ratios vary block by block, and two blocks of the 32-channel
#: stage are zero ops (left out). Stem 32, head 1280; 4.08 M parameters with a
#: 1000-class classifier.
PROXYLESS_MOBILE_SETTINGS: tuple[tuple[int, ...], ...] = (
    (1, 16, 1, 1, 3),
    (3, 32, 1, 2, 5), (3, 32, 1, 1, 3),
    (3, 40, 1, 2, 7), (3, 40, 1, 1, 3), (3, 40, 1, 1, 5), (3, 40, 1, 1, 5),
    (6, 80, 1, 2, 7), (3, 80, 1, 1, 5), (3, 80, 1, 1, 5), (3, 80, 1, 1, 5),
    (6, 96, 1, 1, 5), (3, 96, 1, 1, 5), (3, 96, 1, 1, 5), (3, 96, 1, 1, 5),
    (6, 192, 1, 2, 7), (6, 192, 1, 1, 7), (3, 192, 1, 1, 7), (3, 192, 1, 1, 7),
    (6, 320, 1, 1, 7))
#: A small variant for 16-64 px inputs that trains in seconds on a CPU.
TINY_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2))


@dataclass(frozen=True)
class MobileNetArch:
    width_mult: float = 1.0
    #: rows of (expand t, channels c, repeats n, stride s) or (t, c, n, s, kernel k);
    #: without k a row uses ``kernel_size``
    settings: tuple[tuple[int, ...], ...] = PAPER_SETTINGS
    stem_channels: int = 32
    stem_stride: int = 2
    last_channels: int = 1280
    num_classes: int = 1000
    in_channels: int = 3
    kernel_size: int = 3

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["settings"] = [list(s) for s in self.settings]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MobileNetArch":
        d = dict(d)
        d["settings"] = tuple(tuple(int(v) for v in s) for s in d.get("settings", PAPER_SETTINGS))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class MobileNet(nn.Module):
    def __init__(self, arch: MobileNetArch, generator: torch.Generator | None = None):
        super().__init__()
        self.arch = arch
        cin = make_divisible(arch.stem_channels * arch.width_mult)
        last = make_divisible(arch.last_channels * max(1.0, arch.width_mult))
        feats: list[nn.Module] = [ConvBNAct(arch.in_channels, cin, 3, arch.stem_stride)]
        for row in arch.settings:
            t, c, n, s = row[:4]
            k = row[4] if len(row) > 4 else arch.kernel_size
            cout = make_divisible(c * arch.width_mult)
            for i in range(n):
                feats.append(MBConvBlock(cin, cout, kernel=k, expand=t, stride=s if i == 0 else 1))
                cin = cout
        feats.append(ConvBNAct(cin, last, 1))
        self.features = nn.Sequential(*feats)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(last, arch.num_classes)
        self.feature_dim = last
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01, generator=generator)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    def reset_classifier(self, num_classes: int, generator: torch.Generator | None = None) -> None:
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        with torch.no_grad():
            self.classifier.weight.normal_(0, 0.01, generator=generator)
            self.classifier.bias.zero_()


def build_mobilenet(arch: MobileNetArch, *, seed: int = 0) -> MobileNet:
    """A freshly initialised network; ``seed`` fixes the initial weights."""
    return MobileNet(arch, torch.Generator().manual_seed(seed))
