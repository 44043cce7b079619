"""Training the super-net through the shared loop, and scoring its sub-nets.

Sampling rules (one of them per run):
  - ``sandwich``: each step trains the largest, the smallest and ``n_random``
    random sub-nets on the same batch (BigNAS / the sandwich rule), the others
    optionally distilled from the largest's soft predictions;
  - ``random``: ``n_random`` random sub-nets per step;
  - ``progressive``: once-for-all's progressive shrinking compressed into one
    run: a quarter of the steps each on the largest network, then elastic
    kernel, then elastic depth, then elastic expand ratio.
Resolution is sampled per sub-net in every rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.data import TensorDataset

from ..nn.mbconv import ConvBNAct
from ..training import History, Progress, StepOutput, make_loader, to_channels_last, train_model
from .bn import recalibrate_bn
from .data import NasData
from .model import MBConvSuperNet, largest_arch, smallest_arch

__all__ = ["SAMPLING", "SupernetTrainer", "train_supernet", "evaluate_subnet", "evaluate_subnet_images",
           "subnet_accuracy", "subnet_correct", "fold_bn"]

SAMPLING = ("sandwich", "random", "progressive")


@dataclass
class SupernetTrainer:
    """The ``step`` and ``before_step`` that :func:`engine.training.fit` runs."""

    net: MBConvSuperNet
    rng: np.random.Generator
    sampling: str = "sandwich"
    n_random: int = 2
    distill: bool = True
    total_steps: int = 1
    archs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {SAMPLING}")

    def _res(self) -> int:
        return int(self.rng.choice(self.net.space.resolutions))

    def before_step(self, g: int) -> None:
        sp, rng = self.net.space, self.rng
        if self.sampling == "sandwich":
            self.archs = [largest_arch(sp), smallest_arch(sp, self._res())]
            self.archs += [sp.sample(rng) for _ in range(self.n_random)]
        elif self.sampling == "random":
            self.archs = [sp.sample(rng) for _ in range(max(1, self.n_random))]
        else:
            phase = min(3, 4 * g // max(1, self.total_steps))
            big = largest_arch(sp, self._res())
            if phase == 0:
                self.archs = [big]
                return
            archs = []
            for _ in range(max(1, self.n_random)):
                a = sp.sample(rng)
                if phase < 3:
                    a["expands"] = list(big["expands"])
                if phase < 2:
                    a["depths"] = list(big["depths"])
                archs.append(a)
            self.archs = archs

    def step(self, model: MBConvSuperNet, batch: Any) -> StepOutput:
        x, y = batch
        x = to_channels_last(x)
        if not self.archs:
            self.archs = [largest_arch(model.space)]
        total = 0.0
        teacher = None
        correct = 0.0
        for i, arch in enumerate(self.archs):
            model.set_active(arch)
            logits = model(model.resize(x))
            if teacher is not None and self.distill:
                loss = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
                loss = 0.5 * loss + 0.5 * F.cross_entropy(logits, y)
            else:
                loss = F.cross_entropy(logits, y)
            if i == 0:
                correct = float((logits.argmax(1) == y).sum())
                if self.sampling == "sandwich":
                    teacher = F.softmax(logits.detach(), 1)
            total = total + loss
        return StepOutput(loss=total / len(self.archs), metrics={"correct": correct}, count=len(y))


def train_supernet(net: MBConvSuperNet, data: NasData, *, epochs: int, rng: np.random.Generator,
                   sampling: str = "sandwich", n_random: int = 2, distill: bool = True, lr: float = 0.05,
                   batch_size: int = 64, weight_decay: float = 3e-5, progress: Progress | None = None,
                   seed: int = 0, optimizer: str = "sgd") -> History:
    train_data = TensorDataset(data.x["train"], data.y["train"])
    n_batches = len(make_loader(train_data, batch_size=batch_size, drop_last=True))
    trainer = SupernetTrainer(net, rng, sampling, n_random, distill, total_steps=epochs * n_batches)
    history = train_model(net, train_data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                          weight_decay=weight_decay, seed=seed, drop_last=True, channels_last=True, grad_clip=5.0,
                          step=trainer.step, before_step=trainer.before_step, progress=progress)
    net.set_active(largest_arch(net.space))
    net.eval()
    return history


def evaluate_subnet(net: MBConvSuperNet, arch: dict[str, Any], data: NasData, *, split: str = "val",
                    bn_images: int = 512, bn_batch_size: int = 128, limit: int | None = None,
                    seed: int = 0) -> float:
    """Accuracy of ``arch`` with inherited weights after BN re-calibration on
    ``bn_images`` training images (at the architecture's resolution)."""
    return float(evaluate_subnet_images(net, arch, data, split=split, bn_images=bn_images,
                                        bn_batch_size=bn_batch_size, limit=limit, seed=seed).float().mean())


@torch.inference_mode()
def evaluate_subnet_images(net: MBConvSuperNet, arch: dict[str, Any], data: NasData, *, split: str = "val",
                           bn_images: int = 512, bn_batch_size: int = 128, limit: int | None = None,
                           seed: int = 0) -> torch.Tensor:
    """Which of the first ``limit`` images of ``split`` the sub-net ``arch``
    classifies correctly (a boolean per image), after BN re-calibration on
    ``bn_images`` training images drawn with ``seed``. The re-calibrated
    sub-net is evaluated with each batch norm folded into its convolution."""
    sub = to_channels_last(net.extract(arch))
    r = int(arch["resolution"])
    batches = data.batches("train", bn_batch_size, resolution=r, limit=bn_images, shuffle_seed=seed)
    recalibrate_bn(sub, (to_channels_last(x) for x, _ in batches))
    return subnet_correct(fold_bn(sub), data, split=split, resolution=r, limit=limit)


def fold_bn(model: torch.nn.Module) -> torch.nn.Module:
    """Fold every conv -> batch norm pair of a static MBConv network (in eval
    mode) into the convolution, in place: the same function with half the
    passes over the activations (about 2x faster evaluation on CPU)."""
    for m in model.modules():
        if isinstance(m, ConvBNAct) and isinstance(m[1], torch.nn.BatchNorm2d):
            m[0] = fuse_conv_bn_eval(m[0], m[1])
            m[1] = torch.nn.Identity()
    return model


@torch.inference_mode()
def subnet_correct(model: torch.nn.Module, data: NasData, *, split: str, resolution: int,
                   limit: int | None = None, batch_size: int = 100) -> torch.Tensor:
    """A boolean per image of ``split``: classified correctly. Batches of 100:
    larger ones fall out of the CPU caches (500 images run 2-3x slower)."""
    model.eval()
    out = [model(to_channels_last(x)).argmax(1) == y
           for x, y in data.batches(split, batch_size, resolution=resolution, limit=limit)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def subnet_accuracy(model: torch.nn.Module, data: NasData, *, split: str, resolution: int,
                    limit: int | None = None) -> float:
    correct = subnet_correct(model, data, split=split, resolution=resolution, limit=limit)
    return float(correct.float().mean()) if len(correct) else 0.0
