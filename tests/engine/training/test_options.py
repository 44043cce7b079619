"""fit's options: gradient accumulation, clipping, label smoothing and custom metrics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from engine.training import StepOutput, classification_step, evaluate, fit, train_model


def model_and_data(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 4))
    return model, torch.randn(32, 3, generator=g), torch.randint(0, 4, (32,), generator=g)


def test_accumulating_k_batches_equals_one_batch_of_k_times_the_size():
    a, x, y = model_and_data()
    b = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 4))
    b.load_state_dict(a.state_dict())
    micro = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8)]
    fit(a, classification_step, micro * 3, epochs=1, accumulate=4, schedule="constant",
        optimizer=torch.optim.SGD(a.parameters(), lr=0.5))
    fit(b, classification_step, [(x, y)] * 3, epochs=1, schedule="constant",
        optimizer=torch.optim.SGD(b.parameters(), lr=0.5))
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        fit(a, classification_step, micro, epochs=1, accumulate=0, optimizer=torch.optim.SGD(a.parameters(), lr=0.1))


def test_gradient_clipping_bounds_the_update():
    def update(clip: float | None) -> float:
        model, x, y = model_and_data()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])

        def step(m: nn.Module, batch) -> StepOutput:
            return StepOutput(loss=100.0 * F.cross_entropy(m(batch[0]), batch[1]), count=len(batch[1]))

        fit(model, step, [(x, y)], epochs=1, grad_clip=clip, schedule="constant",
            optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
        return float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())

    assert update(None) > 1.0
    assert update(0.1) == pytest.approx(0.1, rel=1e-4)


def test_label_smoothing_in_the_step_and_a_plain_validation_loss():
    model, x, y = model_and_data()
    with torch.no_grad():
        out = classification_step(model, (x, y), label_smoothing=0.2)
        assert float(out.loss) == pytest.approx(float(F.cross_entropy(model(x), y, label_smoothing=0.2)))
        assert float(out.loss) != pytest.approx(float(classification_step(model, (x, y)).loss))
    hist = train_model(model, TensorDataset(x, y), epochs=2, batch_size=8, lr=0.1, label_smoothing=0.2,
                       val_data=TensorDataset(x, y), seed=0)
    assert hist.val_loss[-1] == pytest.approx(evaluate(model, classification_step, [(x, y)])["loss"], rel=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        train_model(model, (x, y), epochs=1, batch_size=8, lr=0.1, label_smoothing=0.1, step=classification_step)


def test_a_step_returns_its_own_metrics_and_the_history_keeps_their_means():
    model, x, y = model_and_data()

    def step(m: nn.Module, batch) -> StepOutput:
        xb, yb = batch
        logits = m(xb)
        return StepOutput(loss=F.cross_entropy(logits, yb),
                          metrics={"correct": (logits.argmax(1) == yb).sum(), "ones": float(len(yb)),
                                   "large": (yb >= 2).sum()}, count=len(yb))

    ends: list[dict[str, float]] = []
    hist = fit(model, step, [(x[:16], y[:16]), (x[16:], y[16:])], epochs=2, val_loader=[(x, y)],
               optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
               progress=lambda f, msg, m: ends.append(m) if "epoch" in m else None)
    assert hist.train["ones"] == [1.0, 1.0] and hist.val["ones"] == [1.0, 1.0]
    assert hist.train["large"] == pytest.approx([float((y >= 2).float().mean())] * 2)
    assert len(hist.train_acc) == 2 and 0.0 <= hist.val_acc[-1] <= 1.0
    assert [m["epoch"] for m in ends] == [1, 2]
    assert {"loss", "acc", "ones", "large", "lr", "val_loss", "val_acc", "val_ones", "val_large"} <= set(ends[-1])
