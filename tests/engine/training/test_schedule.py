"""Schedules: each one's shape, and fit stepping them once per optimiser step."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.training import Schedule, StepOutput, fit, lr_scheduler


def factors(s: Schedule | str, total: int) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = lr_scheduler(opt, s, total)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"] / 2.0)
        opt.step()
        sched.step()
    return out


def test_constant_and_cosine():
    assert factors("constant", 5) == [1.0] * 5
    c = factors("cosine", 8)
    assert c[0] == 1.0 and c[4] == pytest.approx(0.5) and c[-1] == pytest.approx((1 + math.cos(math.pi * 7 / 8)) / 2)
    assert all(a > b for a, b in zip(c, c[1:]))
    # the same curve as torch's CosineAnnealingLR
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    want = []
    for _ in range(8):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert c == pytest.approx(want, abs=1e-12)


def test_step_decay_and_warmup_in_front():
    assert factors(Schedule("step", step_size=3, gamma=0.5), 7) == pytest.approx([1, 1, 1, .5, .5, .5, .25])
    w = factors(Schedule("cosine", warmup_steps=4), 12)
    assert w[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert w[4] == pytest.approx(1.0) and all(a > b for a, b in zip(w[4:], w[5:]))
    assert factors(Schedule("constant", warmup_steps=2), 4) == pytest.approx([0.5, 1, 1, 1])


def test_inverse_sqrt_is_the_transformer_schedule():
    w = 4
    f = factors(Schedule("inverse-sqrt", warmup_steps=w), 16)
    assert f == pytest.approx([min(n / w, math.sqrt(w / n)) for n in range(1, 17)])
    assert max(f) == pytest.approx(1.0) and f.index(max(f)) == w - 1


def test_bad_schedules_are_refused():
    for bad in (dict(kind="warp"), dict(kind="inverse-sqrt"), dict(kind="step", step_size=0),
                dict(kind="cosine", warmup_steps=-1), dict(kind="step", gamma=0.0)):
        with pytest.raises(ValueError):
            Schedule(**bad)


def test_fit_counts_optimiser_steps():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    batches = [(torch.ones(2, 2),)] * 6
    seen: list[float] = []

    def step(m: nn.Module, batch) -> StepOutput:
        seen.append(opt.param_groups[0]["lr"])
        return StepOutput(loss=m(batch[0]).pow(2).mean() * 0.0, count=2)

    fit(model, step, batches, epochs=2, optimizer=opt, schedule=Schedule("step", step_size=2, gamma=0.5),
        accumulate=3)  # 2 optimiser steps an epoch, 4 in all
    assert seen == pytest.approx([1.0] * 6 + [0.5] * 6)
