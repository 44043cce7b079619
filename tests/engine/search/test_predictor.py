import numpy as np

from engine.ranking import rank_metrics
from engine.search import AccuracyPredictor


def test_predictor_learns_a_smooth_function():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(300, 12)).astype(np.float32)
    w = rng.normal(size=12)
    y = 0.8 + 0.02 * (x @ w)
    p = AccuracyPredictor(12, hidden=(64, 64)).fit_data(x[:240], y[:240], epochs=60, seed=0)
    rmse, rho, tau = rank_metrics(p.predict(x[240:]), y[240:])
    base = float(np.sqrt(np.mean((y[240:] - y[:240].mean()) ** 2)))
    assert rmse < 0.3 * base
    assert rho > 0.9 and tau > 0.75


def test_rank_metrics_known():
    rmse, rho, tau = rank_metrics(np.array([1, 2, 3, 4.0]), np.array([1, 2, 3, 5.0]))
    assert rmse == 0.5 and rho == 1.0 and tau == 1.0


def test_a_state_dict_from_before_the_shared_mlp_loads():
    import torch

    p = AccuracyPredictor(3, hidden=(4,))
    old = {k: v for k, v in p.state_dict().items() if k.startswith("net.")}
    old.update(y_mean=torch.tensor(0.7), y_std=torch.tensor(0.05))
    q = AccuracyPredictor(3, hidden=(4,))
    q.load_state_dict(old)
    x = np.eye(3, dtype=np.float32)
    raw = p.net(torch.as_tensor(x)).squeeze(-1).detach().numpy()
    assert np.allclose(q.predict(x), raw * 0.05 + 0.7, atol=1e-6)
