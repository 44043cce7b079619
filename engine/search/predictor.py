"""Accuracy predictor: an MLP from an architecture encoding to accuracy.

once-for-all trains three hidden layers of 400 units on one-hot encodings of
kernel, expand ratio and resolution (skipped blocks as zeros) and reports its
RMSE; here the encoding comes from the search space, and the fit goes through
the shared training loop (:func:`engine.train.fit`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..train import StepOutput, fit, make_optimizer

__all__ = ["AccuracyPredictor", "PredictorReport", "rank_metrics"]


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


def rank_metrics(pred: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """(RMSE, Spearman rho, Kendall tau) of predictions against true values."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    rmse = float(np.sqrt(np.mean((pred - true) ** 2))) if len(true) else float("nan")
    if len(true) < 3 or np.ptp(true) == 0 or np.ptp(pred) == 0:
        return rmse, float("nan"), float("nan")
    return rmse, float(stats.spearmanr(pred, true).statistic), float(stats.kendalltau(pred, true).statistic)


class AccuracyPredictor(nn.Module):
    """MLP regressor; targets are standardised internally."""

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (400, 400, 400)):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("y_mean", torch.zeros(()))
        self.register_buffer("y_std", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1) * self.y_std + self.y_mean

    def fit_data(self, x: np.ndarray, y: np.ndarray, *, epochs: int = 200, lr: float = 1e-3,
                 batch_size: int = 64, weight_decay: float = 1e-4, seed: int = 0) -> "AccuracyPredictor":
        """Fit on encodings ``x`` (n, d) and accuracies ``y`` (n,)."""
        xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        if len(xt) < 2:
            raise ValueError("need at least two samples to fit a predictor")
        torch.manual_seed(seed)  # weight init below is reproducible
        for m in self.net:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        self.y_mean.fill_(float(yt.mean()))
        self.y_std.fill_(float(yt.std().clamp_min(1e-6)))
        g = torch.Generator().manual_seed(seed)
        loader = DataLoader(TensorDataset(xt, yt), batch_size=min(batch_size, len(xt)), shuffle=True,
                            generator=g)

        def step(model: nn.Module, batch) -> StepOutput:
            xb, yb = batch
            pred = model.net(xb).squeeze(-1)
            loss = torch.mean((pred - (yb - model.y_mean) / model.y_std) ** 2)
            return StepOutput(loss=loss, count=len(yb))

        opt = make_optimizer(self.parameters(), name="adam", lr=lr, weight_decay=weight_decay)
        fit(self, step, loader, epochs=epochs, optimizer=opt, scheduler="cosine")
        self.eval()
        return self

    @torch.inference_mode()
    def predict(self, x: np.ndarray) -> np.ndarray:
        self.eval()
        return self(torch.as_tensor(np.asarray(x), dtype=torch.float32)).numpy().astype(np.float64)

    def report(self, x: np.ndarray, y: np.ndarray, *, n_train: int) -> PredictorReport:
        rmse, rho, tau = rank_metrics(self.predict(x), np.asarray(y))
        return PredictorReport(rmse, rho, tau, n_train, len(y))
