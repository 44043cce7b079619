"""HAT's SuperTransformer: one set of weights at the space's largest sizes; a
SubTransformer uses the *front slices* of every weight (``W[:out, :in]``, the
first ``d`` entries of a norm or bias, the first ``d`` embedding columns, the
first layers), as HAT's ``LinearSuper`` / ``EmbeddingSuper`` do.

A SubTransformer's forward is the static :class:`~engine.nn.transformer.HATTransformer`
run on views of the shared tensors (``torch.func.functional_call`` on a
weightless skeleton built on the meta device), so the elastic and the static
networks cannot drift apart, and gradients flow into the shared weights.

    sup = SuperTransformer(space, vocab=500)
    logits = sup(src, tgt_in, arch)          # trains the shared weights
    net = sup.extract(arch)                  # a plain HATTransformer holding copies of the slices
    torch.equal(net(src, tgt_in), sup(src, tgt_in, arch))   # in eval mode
"""
from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from .transformer import HATTransformer, Memory

__all__ = ["SuperTransformer", "front_slice"]


def front_slice(weight: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """The first ``shape[i]`` entries of ``weight`` along every dimension (a view)."""
    if len(shape) != weight.dim() or any(s > w for s, w in zip(shape, weight.shape)):
        raise ValueError(f"cannot take a {tuple(shape)} slice of a {tuple(weight.shape)} weight")
    return weight[tuple(slice(0, int(s)) for s in shape)]


class _Method(nn.Module):
    """Routes ``forward`` to another method of ``inner`` (functional_call runs forward)."""

    def __init__(self, inner: nn.Module, method: str):
        super().__init__()
        self.inner, self.method = inner, method

    def forward(self, *args: Any) -> Any:
        return getattr(self.inner, self.method)(*args)


class SuperTransformer(nn.Module):
    def __init__(self, space: Any, *, vocab: int, dropout: float = 0.1, max_skeletons: int = 64):
        super().__init__()
        self.space, self.vocab = space, int(vocab)
        self.dropout = float(dropout)
        #: the shared weights: a HATTransformer of the space's largest architecture
        self.full = HATTransformer(space.largest(), vocab=self.vocab, qkv_dim=space.qkv_dim, dropout=self.dropout)
        self._skeletons: "OrderedDict[str, HATTransformer]" = OrderedDict()
        self._max = max_skeletons

    def skeleton(self, arch: dict[str, Any]) -> HATTransformer:
        """A weightless (meta-device) static module of ``arch``, cached."""
        key = json.dumps(self.space.validate(arch), sort_keys=True)
        net = self._skeletons.get(key)
        if net is None:
            with torch.device("meta"):
                net = HATTransformer(self.space.validate(arch), vocab=self.vocab, qkv_dim=self.space.qkv_dim,
                                     dropout=self.dropout)
            self._skeletons[key] = net
            while len(self._skeletons) > self._max:
                self._skeletons.popitem(last=False)
        else:
            self._skeletons.move_to_end(key)
        net.train(self.training)
        return net

    def sliced(self, arch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The SubTransformer's tensors as front slices (views) of the shared ones."""
        full = dict(self.full.named_parameters())
        return {name: front_slice(full[name], p.shape) for name, p in self.skeleton(arch).named_parameters()}

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, arch: dict[str, Any]) -> torch.Tensor:
        return functional_call(self.skeleton(arch), self.sliced(arch), (src, tgt))

    def encode(self, src: torch.Tensor, arch: dict[str, Any]) -> Memory:
        """The SubTransformer's :meth:`HATTransformer.encode` on the shared weights."""
        return self.call(arch, "encode", src)

    def call(self, arch: dict[str, Any], method: str, *args: Any) -> Any:
        """``HATTransformer.<method>(*args)`` of the SubTransformer on the shared weights
        (``encode``, ``step``: what decoding needs)."""
        params = {f"inner.{k}": v for k, v in self.sliced(arch).items()}
        return functional_call(_Method(self.skeleton(arch), method), params, args)

    def extract(self, arch: dict[str, Any]) -> HATTransformer:
        """A plain SubTransformer holding copies of its slices of the shared weights."""
        arch = self.space.validate(arch)
        net = HATTransformer(arch, vocab=self.vocab, qkv_dim=self.space.qkv_dim, dropout=self.dropout)
        with torch.no_grad():
            net.load_state_dict({k: v.detach().clone() for k, v in self.sliced(arch).items()})
        net.train(self.training)
        return net
