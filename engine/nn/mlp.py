"""The one MLP regressor: the accuracy predictor's and the latency predictor's network.

    mlp = MLPRegressor(in_features, hidden=(128, 128))
    mlp.set_target_stats(mean=float(y.mean()), std=float(y.std()))
    mlp.fit_tensors(x, y, epochs=200, lr=1e-3, batch_size=64, seed=0)
    y_hat = mlp(x)

Linear → ReLU → … → Linear on standardised targets: ``forward`` returns
``net(x) * target_std + target_mean`` (the statistics are float64 buffers), and
:func:`regression_step` trains ``net`` on ``(y - target_mean) / target_std``,
so fast and slow, small and large targets weigh the same.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..training import History, Progress, Schedule, StepOutput, train_model

__all__ = ["MLPRegressor", "regression_step"]


class MLPRegressor(nn.Module):
    def __init__(self, in_features: int, hidden: Sequence[int] = (128, 128), out_features: int = 1, *,
                 target_mean: float = 0.0, target_std: float = 1.0):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.hidden = tuple(int(h) for h in hidden)
        dims = [self.in_features, *self.hidden, self.out_features]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.register_buffer("target_mean", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("target_std", torch.tensor(1.0, dtype=torch.float64))
        self.set_target_stats(target_mean, target_std)

    def set_target_stats(self, mean: float, std: float) -> None:
        if not std > 0:
            raise ValueError("target_std must be > 0")
        self.target_mean.fill_(float(mean))
        self.target_std.fill_(float(std))

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output, in standardised target units."""
        z = self.net(x)
        return z.squeeze(-1) if self.out_features == 1 else z

    def standardise(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.target_mean) / self.target_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardised(x) * self.target_std + self.target_mean

    def reset_parameters(self) -> None:
        """Fresh weights of every layer (from torch's global generator)."""
        for m in self.net:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def layer_weights(self) -> dict[str, torch.Tensor]:
        """The layers' tensors under their state-dict names (``net.0.weight`` …), without the target statistics."""
        return {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def load_layer_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict({k.removeprefix("net."): v for k, v in weights.items()})

    def fit_tensors(self, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float, batch_size: int,
                    weight_decay: float = 0.0, optimizer: str = "adam", schedule: Schedule | str = "cosine",
                    seed: int = 0, progress: Progress | None = None) -> History:
        """Train on rows ``x`` and targets ``y`` (in target units) with the engine's loop."""
        return train_model(self, (x, y), epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                           weight_decay=weight_decay, schedule=schedule, seed=seed, step=regression_step,
                           progress=progress)


def regression_step(model: nn.Module, batch: Any) -> StepOutput:
    """Mean squared error of an :class:`MLPRegressor` in standardised target units."""
    x, y = batch
    if not isinstance(model, MLPRegressor):
        raise TypeError("regression_step trains an MLPRegressor")
    return StepOutput(loss=F.mse_loss(model.standardised(x), model.standardise(y).to(x.dtype)), count=len(y))
