"""Static MobileNetV2-style layers: conv-BN-activation and the inverted-residual
(MBConv) block, as in ProxylessNAS / once-for-all.

These are plain modules: super-net (elastic) layers live in
``engine/nn/elastic*.py`` and hand out these classes from ``extract(arch)``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["make_divisible", "ConvBNAct", "MBConvBlock", "ClassifierHead"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to a multiple of ``divisor`` without dropping more than 10 %."""
    min_value = min_value or divisor
    out = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


class ConvBNAct(nn.Sequential):
    """``Conv2d`` (same padding, no bias) → ``BatchNorm2d`` → activation (ReLU6 or none)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 act: bool = True):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)
        self.cin, self.cout, self.kernel, self.stride, self.groups = cin, cout, kernel, stride, groups


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand (skipped when ``expand == 1``) → k x k
    depthwise (stride) → 1x1 linear projection, plus an identity shortcut when
    the stride is 1 and the channel counts match."""

    def __init__(self, cin: int, cout: int, *, kernel: int = 3, expand: int = 6, stride: int = 1):
        super().__init__()
        if kernel % 2 != 1 or kernel < 1:
            raise ValueError(f"kernel must be odd and positive, got {kernel}")
        if expand < 1 or stride not in (1, 2):
            raise ValueError(f"expand must be >= 1 and stride 1 or 2 (got {expand}, {stride})")
        mid = cin * expand
        self.cin, self.cout, self.kernel, self.expand_ratio, self.stride = cin, cout, kernel, expand, stride
        self.expand = ConvBNAct(cin, mid, 1) if expand != 1 else None
        self.depthwise = ConvBNAct(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBNAct(mid, cout, 1, act=False)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return out + x if self.use_residual else out

    def extra_repr(self) -> str:
        return (f"cin={self.cin}, cout={self.cout}, kernel={self.kernel}, expand={self.expand_ratio}, "
                f"stride={self.stride}, residual={self.use_residual}")


class ClassifierHead(nn.Module):
    """Global average pooling → (dropout) → linear classifier."""

    def __init__(self, cin: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(torch.flatten(self.pool(x), 1)))
