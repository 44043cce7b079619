"""Elastic (super-net) layers, after once-for-all's dynamic layers.

An elastic layer holds the weights of its largest configuration and runs any
smaller one by slicing them: the first channels of an expansion, the centre of
a depthwise kernel (passed through a learned kernel transform, as in
once-for-all), the first running statistics of a batch norm. ``extract`` hands
out the static layer of :mod:`engine.nn.mbconv` with exactly those weights.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mbconv import MBConvBlock

__all__ = ["ElasticBatchNorm2d", "ElasticDepthwiseConv", "ElasticMBConv", "copy_bn"]


class ElasticBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose first ``channels`` parameters and statistics serve a narrower input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        use_batch = self.training or self.running_mean is None
        keep = self.running_mean is not None and (not self.training or self.track_running_stats)
        mean = self.running_mean[:c] if keep else None  # views: the update writes through
        var = self.running_var[:c] if keep else None
        return F.batch_norm(x, mean, var,
            self.weight[:c], self.bias[:c], use_batch, factor, self.eps)


def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, channels: int) -> None:
    """Copy the first ``channels`` of ``src`` (parameters and statistics) into ``dst``."""
    with torch.no_grad():
        dst.weight.copy_(src.weight[:channels])
        dst.bias.copy_(src.bias[:channels])
        dst.running_mean.copy_(src.running_mean[:channels])  # type: ignore[index]
        dst.running_var.copy_(src.running_var[:channels])  # type: ignore[index]
        dst.num_batches_tracked.copy_(src.num_batches_tracked)  # type: ignore[arg-type]
    dst.eps, dst.momentum = src.eps, src.momentum


class ElasticDepthwiseConv(nn.Module):
    """Depthwise convolution with an elastic kernel size and channel count.

    The weight is stored at the largest kernel. A smaller kernel is the centre
    of the next larger (transformed) kernel multiplied by a learned
    ``k^2 x k^2`` matrix shared by all channels (once-for-all's kernel
    transformation), initialised to the identity so that, untrained, a small
    kernel is exactly the centre crop of the large one.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...] = (3, 5, 7), stride: int = 1):
        super().__init__()
        self.kernels = tuple(sorted(kernels))
        if any(k % 2 != 1 for k in self.kernels):
            raise ValueError("kernel sizes must be odd")
        self.max_kernel = self.kernels[-1]
        self.channels, self.stride = channels, stride
        self.weight = nn.Parameter(torch.empty(channels, 1, self.max_kernel, self.max_kernel))
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.transforms = nn.ParameterDict({
            f"{k}": nn.Parameter(torch.eye(k * k)) for k in self.kernels[:-1]
        })

    def kernel(self, k: int, channels: int | None = None) -> torch.Tensor:
        """The (channels, 1, k, k) weight used for kernel size ``k``."""
        if k not in self.kernels:
            raise ValueError(f"kernel {k} not in {self.kernels}")
        c = channels or self.channels
        w = self.weight[:c]
        for big, small in zip(reversed(self.kernels), reversed(self.kernels[:-1])):
            if big == k:
                break
            start = (big - small) // 2
            w = w[:, :, start:start + small, start:start + small]
            w = (w.reshape(c, small * small) @ self.transforms[f"{small}"]).reshape(c, 1, small, small)
            if small == k:
                break
        return w

    def forward(self, x: torch.Tensor, k: int) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(x, self.kernel(k, c), None, self.stride, k // 2, 1, c)


class ElasticMBConv(nn.Module):
    """Inverted residual block with elastic kernel and expand ratio; ``extract``
    returns the matching static :class:`~engine.nn.mbconv.MBConvBlock`."""

    def __init__(self, cin: int, cout: int, *, kernels: tuple[int, ...] = (3, 5, 7),
                 expands: tuple[int, ...] = (3, 4, 6), stride: int = 1):
        super().__init__()
        self.cin, self.cout, self.stride = cin, cout, stride
        self.kernels, self.expands = tuple(sorted(kernels)), tuple(sorted(expands))
        if min(self.expands) < 2:
            raise ValueError("elastic expand ratios must be >= 2 (ratio 1 has no expansion layer)")
        mid = cin * self.expands[-1]
        self.expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
        self.expand_bn = ElasticBatchNorm2d(mid)
        self.depthwise = ElasticDepthwiseConv(mid, self.kernels, stride)
        self.depthwise_bn = ElasticBatchNorm2d(mid)
        self.project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(cout)
        self.use_residual = stride == 1 and cin == cout
        self.active_kernel = self.kernels[-1]
        self.active_expand = self.expands[-1]

    def set_active(self, kernel: int, expand: int) -> None:
        if kernel not in self.kernels or expand not in self.expands:
            raise ValueError(f"kernel {kernel} / expand {expand} not in {self.kernels} / {self.expands}")
        self.active_kernel, self.active_expand = kernel, expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.cin * self.active_expand
        out = F.conv2d(x, self.expand_conv.weight[:mid])
        out = F.relu6(self.expand_bn(out))
        out = F.relu6(self.depthwise_bn(self.depthwise(out, self.active_kernel)))
        out = self.project_bn(F.conv2d(out, self.project_conv.weight[:, :mid]))
        return out + x if self.use_residual else out

    @torch.no_grad()
    def extract(self, kernel: int | None = None, expand: int | None = None) -> MBConvBlock:
        k = kernel or self.active_kernel
        e = expand or self.active_expand
        mid = self.cin * e
        block = MBConvBlock(self.cin, self.cout, kernel=k, expand=e, stride=self.stride)
        assert block.expand is not None
        block.expand[0].weight.copy_(self.expand_conv.weight[:mid])
        copy_bn(block.expand[1], self.expand_bn, mid)
        block.depthwise[0].weight.copy_(self.depthwise.kernel(k, mid))
        copy_bn(block.depthwise[1], self.depthwise_bn, mid)
        block.project[0].weight.copy_(self.project_conv.weight[:, :mid])
        copy_bn(block.project[1], self.project_bn, self.cout)
        return block

    def extra_repr(self) -> str:
        return (f"cin={self.cin}, cout={self.cout}, kernels={self.kernels}, expands={self.expands}, "
                f"stride={self.stride}")


