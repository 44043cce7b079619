"""Accuracy predictor: an MLP from an architecture encoding to accuracy.

once-for-all trains three hidden layers of 400 units on one-hot encodings of
kernel, expand ratio and resolution (skipped blocks as zeros) and reports its
RMSE; here the encoding comes from the search space, and the network is the
engine's one MLP regressor (:class:`engine.nn.mlp.MLPRegressor`), fitted with
the shared training loop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..nn.mlp import MLPRegressor
from ..ranking import rank_metrics

__all__ = ["AccuracyPredictor", "PredictorReport"]


@dataclass(frozen=True)
class PredictorReport:
    rmse: float
    spearman: float
    kendall_tau: float
    n_train: int
    n_test: int

    def to_dict(self) -> dict[str, float]:
        return {"rmse": self.rmse, "spearman": self.spearman, "kendall_tau": self.kendall_tau,
                "n_train": self.n_train, "n_test": self.n_test}


class AccuracyPredictor(MLPRegressor):
    """MLP regressor; targets are standardised internally."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (400, 400, 400)):
        super().__init__(in_features, hidden)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object, **kwargs: object) -> None:
        for old, new in (("y_mean", "target_mean"), ("y_std", "target_std")):  # before the shared MLP
            if prefix + old in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[arg-type]

    def fit_data(self, x: np.ndarray, y: np.ndarray, *, epochs: int = 200, lr: float = 1e-3,
                 batch_size: int = 64, weight_decay: float = 1e-4, seed: int = 0) -> "AccuracyPredictor":
        """Fit on encodings ``x`` (n, d) and accuracies ``y`` (n,), from fresh weights drawn with ``seed``."""
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        if len(xt) < 2:
            raise ValueError("need at least two samples to fit a predictor")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.reset_parameters()
        self.set_target_stats(float(yt.mean()), float(yt.std().clamp_min(1e-6)))
        self.fit_tensors(xt, yt, epochs=epochs, lr=lr, batch_size=min(batch_size, len(xt)),
                         weight_decay=weight_decay, optimizer="adam", seed=seed)
        self.eval()
        return self

    @torch.inference_mode()
    def predict(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        with torch.inference_mode():  # searches call this on thousands of rows: no autograd graph
            return self(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy().astype(np.float64)

    def report(self, x: np.ndarray, y: np.ndarray, *, n_train: int) -> PredictorReport:
        rmse, rho, tau = rank_metrics(self.predict(x), np.asarray(y))
        return PredictorReport(rmse, rho, tau, n_train, len(y))
