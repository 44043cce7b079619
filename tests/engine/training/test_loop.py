"""The one training loop: it learns, reports, lets a cancel through and refuses divergence."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from engine.reporter import Cancelled
from engine.training import StepOutput, classification_step, evaluate, fit, make_optimizer


def blobs(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = torch.randint(0, 3, (n,), generator=g)
    return TensorDataset(centres[y] + 0.6 * torch.randn(n, 2, generator=g), y)


def make(seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    train = DataLoader(blobs(240, 1), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(blobs(120, 2), batch_size=60)
    return model, train, val


def test_fit_lowers_the_loss_and_learns():
    model, train, val = make()
    scores0 = evaluate(model, classification_step, val)
    loss0, acc0 = scores0["loss"], scores0["acc"]
    hist = fit(model, classification_step, train, epochs=8, val_loader=val,
               optimizer=make_optimizer(model.parameters(), name="sgd", lr=0.1))
    assert len(hist.train_loss) == len(hist.val_acc) == 8
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert hist.val_loss[-1] < 0.5 * loss0
    assert hist.val_acc[-1] > 0.9 > acc0


def test_progress_fractions_rise_to_one_and_epochs_report_validation():
    model, train, val = make()
    calls = []
    steps = []
    fit(model, classification_step, train, epochs=2, val_loader=val, before_step=steps.append,
        optimizer=make_optimizer(model.parameters(), lr=0.05), progress=lambda f, m, d: calls.append((f, d)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    ends = [d for _, d in calls if "val_acc" in d]
    assert len(ends) == 2 and all({"loss", "acc", "val_loss"} <= set(d) for d in ends)
    assert steps == list(range(2 * len(train)))


def test_an_exception_in_progress_stops_training():
    model, train, _ = make()

    def cancel(f, m, d):
        raise Cancelled()

    before = [p.clone() for p in model.parameters()]
    with pytest.raises(Cancelled):
        fit(model, classification_step, train, epochs=50, progress=cancel,
            optimizer=make_optimizer(model.parameters(), lr=0.05))
    after = list(model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # it had started


def test_divergence_is_an_error_and_zero_epochs_change_nothing():
    model, train, _ = make()

    def nan_step(m, batch):
        x, _ = batch
        return StepOutput(loss=m(x).sum() * float("nan"))

    with pytest.raises(FloatingPointError, match="diverged"):
        fit(model, nan_step, train, epochs=1, optimizer=make_optimizer(model.parameters()))
    model, train, _ = make()
    before = [p.clone() for p in model.parameters()]
    hist = fit(model, classification_step, train, epochs=0, optimizer=make_optimizer(model.parameters()))
    assert hist.train_loss == [] and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError):
        fit(model, classification_step, train, epochs=-1, optimizer=make_optimizer(model.parameters()))
    with pytest.raises(ValueError, match="schedule"):
        fit(model, classification_step, train, epochs=1, schedule="warp", optimizer=make_optimizer(model.parameters()))


def test_evaluate_matches_a_direct_computation_and_restores_the_mode():
    model, _, val = make()
    model.train()
    scores = evaluate(model, classification_step, val)
    loss, acc = scores["loss"], scores["acc"]
    x, y = val.dataset.tensors
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert model.training


def test_make_optimizer_skips_frozen_parameters_and_refuses_unknown_names():
    model, _, _ = make()
    model[0].weight.requires_grad_(False)
    opt = make_optimizer(model.parameters(), name="adamw", lr=1e-3)
    assert sum(len(g["params"]) for g in opt.param_groups) == 3
    with pytest.raises(ValueError):
        make_optimizer(model.parameters(), name="lion")
