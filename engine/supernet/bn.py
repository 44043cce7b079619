"""Batch-norm re-calibration: a sub-net taken from a super-net carries running
statistics averaged over many different sub-nets, so before it is evaluated its
statistics are recomputed on a few training batches (once-for-all)."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = ["recalibrate_bn"]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Reset every batch norm's running statistics and recompute them as the
    exact average over ``batches`` (inputs only); returns the number of images
    seen. The model is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    seen = 0
    try:
        for x in batches:
            model(x)
            seen += len(x)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.eval()
    return seen
