"""ProxylessNAS mixed operations with path binarisation (Cai et al., 2019).

A :class:`MixedOp` holds every candidate op of one block (separate weights)
and real-valued architecture parameters ``alpha``. Per update only sampled
paths run:

- weight step (``mode="weight"``): one path, drawn from ``softmax(alpha)``,
  runs as a plain module, so memory is that of training one network;
- architecture step (``mode="arch"``): two paths are drawn; the active one
  runs with its graph, the other without (its output only is kept), and the
  binary gates' gradients ``dL/dg_j = <dL/dout, op_j(x)>`` are turned into
  gradients of the two alphas involved (the reference code's "two" mode).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["MixedOp", "Zero"]


class Zero(nn.Module):
    """ProxylessNAS's zero op in a residual block: the block is skipped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class MixedOp(nn.Module):
    def __init__(self, candidates: list[nn.Module]):
        super().__init__()
        if len(candidates) < 2:
            raise ValueError("a mixed op needs at least two candidates")
        self.candidates = nn.ModuleList(candidates)
        self.alpha = nn.Parameter(torch.zeros(len(candidates)))
        self.mode = "weight"
        self.active = 0
        self.sampled: tuple[int, int] = (0, 1)
        self._gates: torch.Tensor | None = None
        self._old: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return len(self.candidates)

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.alpha, 0)

    def binarize(self, rng: np.random.Generator, two: bool) -> None:
        """Draw the path(s) of the next forward from ``softmax(alpha)``."""
        p = self.probs().detach().double().numpy()
        p = p / p.sum()
        if two:
            i, j = rng.choice(self.n, size=2, replace=False, p=p)
            pi, pj = p[i], p[j]
            first = rng.random() < pi / (pi + pj)
            self.sampled = (int(i), int(j)) if first else (int(j), int(i))
            self.active = self.sampled[0]
        else:
            self.active = int(rng.choice(self.n, p=p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "arch":
            a, b = self.sampled
            gates = torch.tensor([1.0, 0.0], requires_grad=True)
            self._gates = gates
            out_a = self.candidates[a](x)
            with torch.no_grad():
                out_b = self.candidates[b](x)
            return gates[0] * out_a + gates[1] * out_b
        if self.mode == "eval":
            return self.candidates[int(torch.argmax(self.alpha))](x)
        return self.candidates[self.active](x)

    @torch.no_grad()
    def accumulate_arch_grad(self) -> None:
        """Turn the binary gates' gradients into gradients of the two alphas
        involved (softmax over those two), added to ``alpha.grad``."""
        if self._gates is None or self._gates.grad is None:
            return
        idx = list(self.sampled)
        g = self._gates.grad
        p = torch.softmax(self.alpha[idx], 0)
        grad = torch.zeros(2)
        for i in range(2):
            for j in range(2):
                grad[i] += g[j] * p[j] * ((1.0 if i == j else 0.0) - p[i])
        if self.alpha.grad is None:
            self.alpha.grad = torch.zeros_like(self.alpha)
        self.alpha.grad[idx] += grad
        self._old = self.alpha[idx].clone()
        self._gates = None

    @torch.no_grad()
    def rescale(self) -> None:
        """Keep the probabilities of the paths not involved unchanged after an
        update that only moved the two sampled alphas (reference code)."""
        if self._old is None:
            return
        idx = list(self.sampled)
        new = self.alpha[idx]
        offset = math.log(float(torch.exp(self._old).sum())) - math.log(float(torch.exp(new).sum()))
        self.alpha[idx] += offset
        self._old = None
