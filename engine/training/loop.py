"""The one training / evaluation loop. Every technique passes in its step.

    def step(model, batch) -> StepOutput:   # the loss of one batch, and what to average
        x, y = batch
        logits = model(x)
        return StepOutput(loss=F.cross_entropy(logits, y), metrics={"correct": (logits.argmax(1) == y).sum()},
                          count=len(y))

    history = fit(model, step, train_loader, epochs=3, optimizer=opt, schedule="cosine", val_loader=val)
    history.train["acc"], history.val_loss, history.val_acc

A step's ``metrics`` are totals over the batch's ``count`` samples (a number
of correct predictions, or a per-sample mean times ``count``); the history
keeps each epoch's mean per sample. ``correct`` is kept as ``acc``.

Label smoothing is the step's concern: ``classification_step`` takes
``label_smoothing`` (bind it with ``functools.partial``; :func:`train_model`
does so and validates with the plain cross-entropy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .schedule import Schedule, lr_scheduler

__all__ = ["StepOutput", "History", "Step", "Progress", "fit", "evaluate", "classification_step", "make_optimizer"]


@dataclass
class StepOutput:
    loss: torch.Tensor
    metrics: dict[str, float | torch.Tensor] = field(default_factory=dict)
    count: int = 0


@dataclass
class History:
    """Per-epoch means: ``train["loss"]``, ``train["acc"]``, … and the same of validation in ``val``."""
    train: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, list[float]] = field(default_factory=dict)

    @property
    def train_loss(self) -> list[float]:
        return self.train.get("loss", [])

    @property
    def train_acc(self) -> list[float]:
        return self.train.get("acc", [])

    @property
    def val_loss(self) -> list[float]:
        return self.val.get("loss", [])

    @property
    def val_acc(self) -> list[float]:
        return self.val.get("acc", [])


Step = Callable[[nn.Module, Any], StepOutput]
#: progress(fraction_of_all_steps, message, metrics) — may raise to cancel
Progress = Callable[[float, str, dict[str, float]], None]


def classification_step(model: nn.Module, batch: Any, *, label_smoothing: float = 0.0) -> StepOutput:
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    return StepOutput(loss=loss, metrics={"correct": (logits.argmax(1) == y).sum().item()}, count=len(y))


def make_optimizer(params: Iterable[torch.nn.Parameter], *, name: str = "sgd", lr: float = 0.05,
                   weight_decay: float = 0.0, momentum: float = 0.9) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


class _Means:
    """Sample-weighted sums of the loss and of a step's metrics."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, out: StepOutput, loss: float) -> None:
        n = out.count or 1
        self.sums["loss"] = self.sums.get("loss", 0.0) + loss * n
        for k, v in out.metrics.items():
            name = "acc" if k == "correct" else k
            self.sums[name] = self.sums.get(name, 0.0) + float(v)
        self.count += n

    def means(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


@torch.no_grad()
def evaluate(model: nn.Module, step: Step, loader: Iterable, *, device: str | torch.device = "cpu"
             ) -> dict[str, float]:
    """Mean loss and metrics of ``step`` over ``loader`` (model in eval mode):
    ``{"loss", "acc" (from ``correct``), …}``."""
    was = model.training
    model.eval()
    acc = _Means()
    for batch in loader:
        out = step(model, _to(batch, device))
        acc.add(out, float(out.loss))
    model.train(was)
    return {"loss": 0.0, **acc.means()}


def fit(model: nn.Module, step: Step, train_loader: Iterable, *, epochs: int,
        optimizer: torch.optim.Optimizer, schedule: Schedule | str = "cosine", grad_clip: float | None = None,
        accumulate: int = 1, val_loader: Iterable | None = None, progress: Progress | None = None,
        before_step: Callable[[int], None] | None = None, eval_step: Step | None = None,
        device: str | torch.device = "cpu") -> History:
    """Train ``model`` for ``epochs``; ``step`` computes the loss of one batch.

    ``accumulate=k`` sums the gradients of ``k`` batches (each loss scaled by
    ``1/k``) before each optimiser step (an epoch's last, shorter group steps
    too); ``schedule`` (:class:`Schedule` or a kind's name) counts optimiser
    steps; ``grad_clip`` clips the gradients' global norm before each.
    ``before_step(batch_index)`` runs before each batch (super-net sampling,
    architecture updates …). ``progress`` is called about 20 times an epoch
    with ``{"loss"}`` and at each epoch's end with ``{"epoch", "lr", "loss",
    "acc", …, "val_loss", "val_acc", …}``.
    """
    if epochs < 0:
        raise ValueError("epochs must be >= 0")
    if accumulate < 1:
        raise ValueError("accumulate must be >= 1")
    n_batches = len(train_loader)  # type: ignore[arg-type]
    total = max(1, epochs * n_batches)
    sched = lr_scheduler(optimizer, schedule, epochs * math.ceil(n_batches / accumulate))
    history = History()
    every = max(1, n_batches // 20)
    g = 0
    model.to(device)
    for epoch in range(epochs):
        model.train()
        run = _Means()
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(train_loader):
            if before_step is not None:
                before_step(g)
            out = step(model, _to(batch, device))
            loss = float(out.loss.detach())
            if not math.isfinite(loss):
                raise FloatingPointError(f"training diverged at epoch {epoch + 1}, step {i + 1} (loss {loss})")
            (out.loss / accumulate if accumulate > 1 else out.loss).backward()
            if (i + 1) % accumulate == 0 or i + 1 == n_batches:
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
                sched.step()
                optimizer.zero_grad(set_to_none=True)
            run.add(out, loss)
            g += 1
            if progress is not None and (i + 1) % every == 0 and i + 1 < n_batches:
                progress(g / total, f"epoch {epoch + 1}/{epochs} step {i + 1}/{n_batches} loss {loss:.3f}",
                         {"loss": loss})
        means = run.means()
        for k, v in means.items():
            history.train.setdefault(k, []).append(v)
        metrics: dict[str, float] = {"epoch": epoch + 1, "lr": float(optimizer.param_groups[0]["lr"]), **means}
        if val_loader is not None:
            for k, v in evaluate(model, eval_step or step, val_loader, device=device).items():
                history.val.setdefault(k, []).append(v)
                metrics[f"val_{k}"] = v
        if progress is not None:
            progress(g / total, f"epoch {epoch + 1}/{epochs} done: loss {metrics.get('loss', 0.0):.3f}"
                     + (f", val acc {metrics['val_acc']:.3f}" if "val_acc" in metrics else ""), metrics)
    return history


def _to(batch: Any, device: str | torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch
