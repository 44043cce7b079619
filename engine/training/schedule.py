"""Learning-rate schedules for :func:`engine.training.fit`, counted in optimiser steps.

A :class:`Schedule` maps the index ``i`` of an optimiser step (0 .. total-1)
to a factor of the optimiser's base learning rate:

- ``constant``: 1;
- ``cosine``: ``(1 + cos(pi * i / total)) / 2`` (torch's CosineAnnealingLR to zero);
- ``step``: ``gamma ** (i // step_size)``;
- ``inverse-sqrt``: the Transformer schedule HAT trains with,
  ``min(n / warmup, sqrt(warmup / n))`` for step number ``n = i + 1``.

``warmup_steps`` > 0 adds a linear warm-up, ``(i + 1) / warmup_steps``, in
front of ``cosine``, ``constant`` and ``step`` (the cosine then spans the
remaining steps); for ``inverse-sqrt`` it is the schedule's own warm-up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Schedule", "SCHEDULES", "as_schedule", "lr_scheduler"]

SCHEDULES = ("constant", "cosine", "step", "inverse-sqrt")


@dataclass(frozen=True)
class Schedule:
    kind: str = "cosine"
    warmup_steps: int = 0
    step_size: int = 1
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; known: {', '.join(SCHEDULES)}")
        if self.warmup_steps < 0 or self.step_size < 1 or not self.gamma > 0:
            raise ValueError("schedule: warmup_steps >= 0, step_size >= 1 and gamma > 0 are needed")
        if self.kind == "inverse-sqrt" and self.warmup_steps < 1:
            raise ValueError("schedule: inverse-sqrt needs warmup_steps >= 1")

    def factor(self, i: int, total: int) -> float:
        """The learning-rate factor of optimiser step ``i`` of ``total``."""
        w = self.warmup_steps
        if self.kind == "inverse-sqrt":
            n = i + 1
            return min(n / w, math.sqrt(w / n))
        if i < w:
            return (i + 1) / w
        if self.kind == "cosine":
            return (1.0 + math.cos(math.pi * (i - w) / max(1, total - w))) / 2.0
        if self.kind == "step":
            return self.gamma ** ((i - w) // self.step_size)
        return 1.0


def as_schedule(spec: Schedule | str) -> Schedule:
    """A :class:`Schedule` from itself or from a kind's name."""
    return spec if isinstance(spec, Schedule) else Schedule(kind=str(spec))


def lr_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule | str, total_steps: int
                 ) -> torch.optim.lr_scheduler.LambdaLR:
    """A torch scheduler applying ``schedule`` over ``total_steps`` optimiser steps (step it after each)."""
    s, total = as_schedule(schedule), max(1, int(total_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: s.factor(i, total))
