"""Victim networks for gradient-leakage attacks, and their short training.

``LeNet`` is the network of Zhu et al. (DLG, 2019): three 5x5 convolutions of
12 channels with strides 2, 2, 1, sigmoid activations (twice differentiable, so
the gradient-matching loss has a useful gradient) and one linear layer, every
weight and bias drawn uniformly from [-0.5, 0.5]. ``SmallResNet`` is a
CIFAR-style ResNet with one basic block per stage, the deeper kind of network
the cosine-distance attack of Geiping et al. (Inverting Gradients, 2020) targets.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from torch.utils.data import TensorDataset

from ..data import ImageData
from ..training import train_model
from .defences import apply_defence

__all__ = ["LeNet", "SmallResNet", "VICTIMS", "build_victim", "last_linear_index", "train_victim",
           "victim_training_data", "make_victim"]

VICTIMS = ("lenet", "resnet")


class LeNet(nn.Module):
    """The DLG paper's LeNet (inputs of side ``image_size``, a multiple of 4)."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        if image_size % 4:
            raise ValueError("LeNet needs an image size that is a multiple of 4")
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 12, 5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, stride=2, padding=2), nn.Sigmoid(),
            nn.Conv2d(12, 12, 5, stride=1, padding=2), nn.Sigmoid(),
        )
        self.fc = nn.Linear(12 * (image_size // 4) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))

    def reset_parameters_uniform(self, generator: torch.Generator, bound: float = 0.5) -> None:
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound, generator=generator)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.short(x))


class SmallResNet(nn.Module):
    """A ResNet-8: stem, three stages of one basic block (width, 2w, 4w), pool, linear."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, width: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(_Block(width, width, 1), _Block(width, 2 * width, 2),
                                    _Block(2 * width, 4 * width, 2))
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    def reset_parameters_seeded(self, generator: torch.Generator) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                nn.init.uniform_(m.weight, -bound, bound, generator=generator)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)


def build_victim(name: str, *, in_channels: int, num_classes: int, image_size: int,
                 generator: torch.Generator) -> nn.Module:
    """A freshly, reproducibly initialised victim (in eval mode: BatchNorm uses
    its running statistics when the shared gradient is computed)."""
    if name == "lenet":
        model: nn.Module = LeNet(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        model.reset_parameters_uniform(generator)
    elif name == "resnet":
        model = SmallResNet(in_channels=in_channels, num_classes=num_classes)
        model.reset_parameters_seeded(generator)
    else:
        raise ValueError(f"unknown victim {name!r}; known: {', '.join(VICTIMS)}")
    return model.eval()


def last_linear_index(model: nn.Module) -> int:
    """Index, in ``list(model.parameters())``, of the last linear layer's weight."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError("the model has no linear layer")
    for i, p in enumerate(model.parameters()):
        if p is last.weight:
            return i
    raise ValueError("the last linear layer's weight is not a parameter of the model")


def train_victim(model: nn.Module, train: ImageData, val: ImageData | None, *, epochs: int, batch_size: int = 32,
                 lr: float = 0.05, seed: int = 0, defence: str = "none", strength: float = 0.0,
                 progress: Callable[[float, str, dict], None] | None = None) -> float | None:
    """Train ``model`` with :func:`engine.training.train_model` (SGD, momentum 0.9), the
    defence applied to every parameter's gradient before each optimiser step,
    as a federated client applying it to what it shares would. Returns the
    validation accuracy (None without ``val``); leaves the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    hooks = []
    if defence not in ("none", "batch"):
        def hook(p: torch.Tensor) -> None:
            p.grad.copy_(apply_defence(defence, [p.grad], strength, generator=g)[0])

        hooks = [p.register_post_accumulate_grad_hook(hook) for p in model.parameters() if p.requires_grad]
    try:
        hist = train_model(model, TensorDataset(train.x, train.y), epochs=epochs, batch_size=batch_size, lr=lr,
                           optimizer="sgd", seed=seed, drop_last=True,
                           val_data=TensorDataset(val.x, val.y) if val is not None else None, progress=progress)
    finally:
        for h in hooks:
            h.remove()
    model.eval()
    return hist.val_acc[-1] if hist.val_acc else None


def victim_training_data(*, channels: int, image_size: int, num_classes: int,
                         train_images: int = 4000, seed: int = 0) -> tuple[ImageData, ImageData]:
    """mnist-5k at the victim's input shape: up to ``train_images`` training digits
    and the 1,000-digit test split. Needs ``num_classes >= 10``."""
    from ..data import DataError, load_dataset

    if num_classes < 10:
        raise DataError("training the victim on MNIST needs at least 10 classes")
    train = load_dataset("mnist-5k", train=True, image_size=image_size, channels=channels).limit(train_images,
                                                                                                seed=seed)
    val = load_dataset("mnist-5k", train=False, image_size=image_size, channels=channels)
    return train, val


def make_victim(name: str, *, in_channels: int, num_classes: int, image_size: int, seed: int,
                trained_epochs: int = 0, train_images: int = 4000, lr: float = 0.05,
                progress: Callable[[float, str, dict], None] | None = None) -> tuple[nn.Module, float | None]:
    """A victim initialised from ``seed``; with ``trained_epochs`` > 0 it is first
    trained on mnist-5k. Returns the model and its test accuracy (None if untrained)."""
    model = build_victim(name, in_channels=in_channels, num_classes=num_classes, image_size=image_size,
                         generator=torch.Generator().manual_seed(seed))
    if trained_epochs <= 0:
        return model, None
    train, val = victim_training_data(channels=in_channels, image_size=image_size, num_classes=num_classes,
                                      train_images=train_images, seed=seed)
    acc = train_victim(model, train, val, epochs=trained_epochs, lr=lr, seed=seed, progress=progress)
    return model, acc
