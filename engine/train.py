"""The one training / evaluation loop. Every technique passes in its step.

    def step(model, batch) -> StepOutput:   # compute the loss (and optionally outputs)
        x, y = batch
        logits = model(x)
        return StepOutput(loss=F.cross_entropy(logits, y), correct=(logits.argmax(1) == y).sum(), count=len(y))

    history = fit(model, step, train_loader, epochs=3, optimizer=opt, val_loader=val, progress=cb)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["StepOutput", "History", "fit", "evaluate", "classification_step", "make_optimizer"]


@dataclass
class StepOutput:
    loss: torch.Tensor
    correct: float | torch.Tensor = 0.0
    count: int = 0


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)


Step = Callable[[nn.Module, Any], StepOutput]
#: progress(fraction_of_all_steps, message, metrics) — may raise to cancel
Progress = Callable[[float, str, dict[str, float]], None]


def classification_step(model: nn.Module, batch: Any) -> StepOutput:
    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    return StepOutput(loss=loss, correct=(logits.argmax(1) == y).sum().item(), count=len(y))


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


@torch.no_grad()
def evaluate(model: nn.Module, step: Step, loader: Iterable, *, device: str | torch.device = "cpu") -> tuple[float, float]:
    """Mean loss and accuracy of ``step`` over ``loader`` (model in eval mode)."""
    was = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0.0, 0
    for batch in loader:
        out = step(model, _to(batch, device))
        n = out.count or 1
        total_loss += float(out.loss) * n
        correct += float(out.correct)
        count += n
    model.train(was)
    return total_loss / max(count, 1), correct / max(count, 1)


def fit(model: nn.Module, step: Step, train_loader: Iterable, *, epochs: int,
        optimizer: torch.optim.Optimizer, scheduler: str = "cosine", val_loader: Iterable | None = None,
        progress: Progress | None = None, device: str | torch.device = "cpu", grad_clip: float | None = None,
        before_step: Callable[[int], None] | None = None, eval_step: Step | None = None) -> History:
    """Train ``model`` for ``epochs``; ``step`` computes the loss of one batch.

    ``before_step(global_step)`` runs before each batch (super-net sampling,
    architecture updates …). ``progress`` is called about 20 times an epoch
    and at each epoch's end with ``{"loss", "acc", "val_loss", "val_acc"}``.
    """
    if epochs < 0:
        raise ValueError("epochs must be >= 0")
    n_batches = len(train_loader)  # type: ignore[arg-type]
    total = max(1, epochs * n_batches)
    sched = None
    if scheduler == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    elif scheduler != "constant":
        raise ValueError(f"unknown scheduler {scheduler!r}")
    history = History()
    every = max(1, n_batches // 20)
    g = 0
    model.to(device)
    for epoch in range(epochs):
        model.train()
        run_loss, run_correct, run_count = 0.0, 0.0, 0
        for i, batch in enumerate(train_loader):
            if before_step is not None:
                before_step(g)
            out = step(model, _to(batch, device))
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if sched is not None:
                sched.step()
            n = out.count or 1
            loss = float(out.loss.detach())
            if not math.isfinite(loss):
                raise FloatingPointError(f"training diverged at epoch {epoch + 1}, step {i + 1} (loss {loss})")
            run_loss += loss * n
            run_correct += float(out.correct)
            run_count += n
            g += 1
            if progress is not None and (i + 1) % every == 0 and i + 1 < n_batches:
                progress(g / total, f"epoch {epoch + 1}/{epochs} step {i + 1}/{n_batches} loss {loss:.3f}",
                         {"loss": loss})
        metrics = {"loss": run_loss / max(run_count, 1), "acc": run_correct / max(run_count, 1)}
        history.train_loss.append(metrics["loss"])
        history.train_acc.append(metrics["acc"])
        if val_loader is not None:
            vl, va = evaluate(model, eval_step or step, val_loader, device=device)
            history.val_loss.append(vl)
            history.val_acc.append(va)
            metrics.update(val_loss=vl, val_acc=va)
        if progress is not None:
            progress(g / total, f"epoch {epoch + 1}/{epochs} done: loss {metrics['loss']:.3f}"
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
