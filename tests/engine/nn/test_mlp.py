"""The one MLP regressor: it fits on standardised targets and keeps its layer names."""
from __future__ import annotations

import pytest
import torch

from engine.nn.mlp import MLPRegressor, regression_step


def test_fits_a_scaled_function_and_predicts_in_target_units():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 3, generator=g)
    y = 500.0 + 40.0 * (x[:, 0] - 2 * x[:, 1] + x[:, 2] ** 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = MLPRegressor(3, hidden=(32, 32))
    m.set_target_stats(float(y.mean()), float(y.std()))
    hist = m.fit_tensors(x, y, epochs=60, lr=3e-3, batch_size=32, seed=0)
    assert hist.train_loss[-1] < 0.05 * hist.train_loss[0]
    with torch.no_grad():
        err = (m(x) - y).abs().mean()
    assert err < 0.1 * y.std()
    assert torch.allclose(m.standardise(y), (y - y.mean()) / y.std(), atol=1e-5)


def test_layer_weights_round_trip_without_the_statistics():
    m = MLPRegressor(4, hidden=(5,), target_mean=2.0, target_std=3.0)
    keys = set(m.layer_weights())
    assert keys == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}
    other = MLPRegressor(4, hidden=(5,), target_mean=2.0, target_std=3.0)
    other.load_layer_weights(m.layer_weights())
    x = torch.randn(3, 4)
    assert torch.equal(other(x), m(x)) and m(x).shape == (3,)
    with pytest.raises(ValueError):
        m.set_target_stats(0.0, 0.0)
    with pytest.raises(TypeError):
        regression_step(torch.nn.Linear(4, 1), (x, x[:, 0]))
