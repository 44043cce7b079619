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

The paper gives every candidate its own weights (:class:`MixedOp`).
:class:`SharedMixedOp` instead runs every (kernel, expand) candidate as a
slice of one elastic block (once-for-all's kernel and width sharing, as in
Single-Path NAS): the sampled paths then differ by a few weights rather than
by a whole block, so the shared weights train in hundreds of steps instead of
the paper's tens of epochs. Path binarisation, the gates' gradients and the
memory of one path are the same for both.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .elastic import ElasticMBConv
from .mbconv import MBConvBlock

__all__ = ["MixedOp", "SharedMixedOp", "Zero"]


class Zero(nn.Module):
    """ProxylessNAS's zero op in a residual block: the block is skipped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class MixedOp(nn.Module):
    """Candidates with their own weights (the paper's mixed op)."""

    def __init__(self, candidates: list[nn.Module]):
        super().__init__()
        if len(candidates) < 2:
            raise ValueError("a mixed op needs at least two candidates")
        self.candidates = nn.ModuleList(candidates)
        self._init_arch(len(candidates))

    def _init_arch(self, n: int) -> None:
        self.alpha = nn.Parameter(torch.zeros(n))
        self.mode = "weight"
        self.active = 0
        self.sampled: tuple[int, int] = (0, 1)
        self._gates: torch.Tensor | None = None
        self._old: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return len(self.candidates)

    def run(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Output of candidate ``index``."""
        return self.candidates[index](x)

    def static_op(self, index: int) -> nn.Module:
        """Candidate ``index`` as a plain module (what a derived network holds)."""
        return self.candidates[index]

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
            out_a = self.run(a, x)
            with torch.no_grad():
                out_b = self.run(b, x)
            return gates[0] * out_a + gates[1] * out_b
        if self.mode == "eval":
            return self.run(int(torch.argmax(self.alpha)), x)
        return self.run(self.active, x)

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


class SharedMixedOp(MixedOp):
    """Every (kernel, expand) candidate is a configuration of one
    :class:`~engine.nn.elastic.ElasticMBConv`; with ``zero`` the last candidate
    skips the block."""

    def __init__(self, cin: int, cout: int, *, choices: list[tuple[int, int]], stride: int, zero: bool):
        nn.Module.__init__(self)
        if len(choices) + int(zero) < 2:
            raise ValueError("a mixed op needs at least two candidates")
        kernels = tuple(sorted({k for k, _ in choices}))
        expands = tuple(sorted({e for _, e in choices}))
        self.choices = list(choices)
        self.zero = zero
        self.shared = ElasticMBConv(cin, cout, kernels=kernels, expands=expands, stride=stride)
        self._init_arch(len(self.choices) + int(zero))

    @property
    def n(self) -> int:
        return len(self.choices) + int(self.zero)

    def run(self, index: int, x: torch.Tensor) -> torch.Tensor:
        if index >= len(self.choices):
            return x
        self.shared.set_active(*self.choices[index])
        return self.shared(x)

    def static_op(self, index: int) -> nn.Module:
        if index >= len(self.choices):
            return Zero()
        k, e = self.choices[index]
        block: MBConvBlock = self.shared.extract(k, e)
        return block
