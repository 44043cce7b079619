"""Training HAT's SuperTransformer and scoring SubTransformers with inherited weights.

Training samples one random SubTransformer per update (HAT's rule: every
SubTransformer's front slices get trained, none is favoured), through the
engine's one loop (:func:`engine.training.train_model`) with Adam
(betas 0.9, 0.98), the inverse-square-root schedule with warm-up, label
smoothing and gradient clipping.

    sup = SuperTransformer(space, vocab=tok.vocab_size, dropout=0.1)
    hist = train_supertransformer(sup, space, train, epochs=5, batch_size=64, lr=1e-3, warmup_steps=200)
    scorer = InheritedScorer(sup, space, valid)
    scorer.val_loss(arch)         # per-token cross-entropy with the shared weights, cached by network
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..nn.elastic_transformer import SuperTransformer
from ..spaces.transformer import HATSpace
from ..training import History, Progress, Schedule, train_model
from .translate import seq2seq_step, token_loss

__all__ = ["train_supertransformer", "finetune", "InheritedScorer"]


def _optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.98))


def train_supertransformer(sup: SuperTransformer, space: HATSpace, train: Sequence[torch.Tensor], *, epochs: int,
                           batch_size: int, lr: float, warmup_steps: int, label_smoothing: float = 0.1,
                           grad_clip: float | None = 1.0, seed: int = 0, val: Sequence[torch.Tensor] | None = None,
                           progress: Progress | None = None) -> History:
    """Train the shared weights, one random SubTransformer per update (validation: the largest)."""
    rng = np.random.default_rng(seed)
    current: list[dict[str, Any]] = [space.sample(rng)]
    largest = space.largest()

    def before(_: int) -> None:
        current[0] = space.sample(rng)

    def step(model: SuperTransformer, batch: Any):
        return seq2seq_step(lambda s, t: model(s, t, current[0]), batch, label_smoothing=label_smoothing)

    def eval_step(model: SuperTransformer, batch: Any):
        return seq2seq_step(lambda s, t: model(s, t, largest), batch)

    return train_model(sup, tuple(train), epochs=epochs, batch_size=batch_size, lr=lr, optimizer=_optimizer(sup, lr),
                       schedule=Schedule("inverse-sqrt", warmup_steps=max(1, warmup_steps)), seed=seed,
                       grad_clip=grad_clip, step=step, eval_step=eval_step, before_step=before,
                       val_data=tuple(val) if val is not None else None, progress=progress)


def finetune(net: torch.nn.Module, train: Sequence[torch.Tensor], *, epochs: int, batch_size: int, lr: float,
             warmup_steps: int, label_smoothing: float = 0.1, seed: int = 0,
             progress: Progress | None = None) -> History | None:
    """Train a static SubTransformer (its inherited weights as the start) with the same recipe."""
    if epochs <= 0:
        return None
    return train_model(net, tuple(train), epochs=epochs, batch_size=batch_size, lr=lr, optimizer=_optimizer(net, lr),
                       schedule=Schedule("inverse-sqrt", warmup_steps=max(1, warmup_steps)), seed=seed,
                       grad_clip=1.0, step=partial(seq2seq_step, label_smoothing=label_smoothing), progress=progress)


class InheritedScorer:
    """Validation loss of SubTransformers with the SuperTransformer's weights (eval
    mode), cached by the network an architecture builds."""

    def __init__(self, sup: SuperTransformer, space: HATSpace, val: Sequence[torch.Tensor], *,
                 batch_size: int = 256, on_new: Callable[[int], None] | None = None):
        self.sup, self.space, self.val, self.batch_size = sup, space, tuple(val), batch_size
        self.cache: dict[Any, float] = {}
        self.on_new = on_new

    def val_loss(self, arch: dict[str, Any]) -> float:
        key = self.space.network_key(arch)
        hit = self.cache.get(key)
        if hit is None:
            was = self.sup.training
            self.sup.eval()
            hit = token_loss(lambda s, t: self.sup(s, t, arch), self.val, batch_size=self.batch_size)
            self.sup.train(was)
            self.cache[key] = hit
            if self.on_new is not None:
                self.on_new(len(self.cache))
        return hit

    def many(self, archs: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.array([self.val_loss(a) for a in archs], dtype=np.float64)
