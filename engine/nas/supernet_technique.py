"""The ``supernet`` technique: train a weight-shared MBConv super-net and save
it as a checkpoint later searches pick by name."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import ConfigBase, param
from ..data import DATASETS, choose_dataset
from ..hardware import HardwareProfile
from ..hardware.cost import profile_model
from ..hardware.latency import latency_for
from ..reporter import Reporter, Summary
from ..spaces.mbconv import MBConvSpace
from ..supernet import (SAMPLING, VAL_LIMIT, MBConvSuperNet, evaluate_subnet, largest_arch, load_nas_data,
                        save_checkpoint, smallest_arch, train_supernet)

__all__ = ["SupernetConfig", "run_supernet", "space_from_config"]


@dataclass(frozen=True)
class SupernetConfig(ConfigBase):
    dataset: str = param("mnist-5k", help="Dataset (mnist-5k ships offline; fashion-mnist comes from Debian's "
                         "dataset-fashion-mnist and falls back to mnist-5k where it is missing; others load from "
                         "FRONTIER_DATA_DIR)", choices=DATASETS)
    widths: tuple[int, ...] = param((16, 24, 32, 48), help="Channels of each stage (one stage per value)",
                                    min=8, max=256, min_items=2, max_items=6)
    resolutions: tuple[int, ...] = param((24, 28, 32), help="Input resolutions sub-nets may use (pixels)",
                                         min=16, max=64, min_items=1, max_items=5)
    head_width: int = param(128, help="Channels of the final 1x1 feature-mix convolution", min=16, max=1280)
    in_channels: int = param(1, help="Image channels fed to the network (MNIST is grey: 1)", choices=(1, 3))
    epochs: int = param(5, help="Training epochs", min=0, max=200)
    sampling: str = param("sandwich", help="Sub-nets per step: sandwich (largest, smallest and random ones), "
                          "random, or progressive shrinking (largest, then elastic kernel, depth, expand)",
                          choices=SAMPLING)
    n_random: int = param(1, help="Random sub-nets per step", min=1, max=8)
    distill: bool = param(True, help="Sandwich: distil sub-nets from the largest's predictions (in-place)")
    lr: float = param(0.1, help="SGD learning rate (Nesterov momentum, cosine schedule)", min=1e-5, max=1.0)
    batch_size: int = param(32, help="Batch size", min=8, max=1024)
    train_limit: int = param(2000, help="Training images used (0 = all)", min=0, max=1_000_000)
    eval_subnets: int = param(4, help="Random sub-nets evaluated after each epoch (besides largest and smallest)",
                              min=0, max=50)
    name: str = param("", help="Checkpoint name (empty: dataset and time)", max_length=80)
    seed: int = param(0, help="Random seed", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        errors = {}
        if self.name and not all(c.isalnum() or c in "-_." for c in self.name):
            errors["name"] = "letters, digits, '.', '_' or '-' only"
        return errors


def space_from_config(widths: tuple[int, ...], resolutions: tuple[int, ...], head_width: int) -> MBConvSpace:
    """A small-image MBConv space: stem stride 2, first stage stride 1, later stages stride 2."""
    strides = (1,) + (2,) * (len(widths) - 1)
    return MBConvSpace(widths=widths, strides=strides, resolutions=resolutions, stem_width=8, stem_stride=2,
                       head_width=head_width)


def run_supernet(config: SupernetConfig, hardware: HardwareProfile, reporter: Reporter) -> Summary:
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    space = space_from_config(config.widths, config.resolutions, config.head_width)
    choice = choose_dataset(config.dataset)  # a dataset that is not installed falls back, and the page says so
    reporter.progress(0.0, choice.note or f"loading {choice.name}")
    data = load_nas_data(choice.name, resolution=max(config.resolutions), in_channels=config.in_channels,
                         train_limit=config.train_limit or None, seed=config.seed)
    net = MBConvSuperNet(space, num_classes=data.num_classes, in_channels=config.in_channels)
    eval_rng = np.random.default_rng(config.seed + 1)
    probes = {"largest": largest_arch(space), "smallest": smallest_arch(space)}
    probes.update({f"random-{i + 1}": space.sample(eval_rng) for i in range(config.eval_subnets)})
    epochs = max(config.epochs, 0)
    scores: dict[str, float] = {}
    step = [0]

    def progress(frac: float, message: str, metrics: dict[str, float]) -> None:
        step[0] += 1
        reporter.progress(0.05 + 0.85 * frac, message)
        if "epoch" not in metrics:
            reporter.series("loss per step", step[0], metrics["loss"])
            return
        epoch = max(1, round(frac * epochs))
        reporter.series("train loss per epoch", epoch, metrics["loss"])
        reporter.series("accuracy/train (largest)", epoch, metrics["acc"])
        for name, arch in probes.items():
            acc = evaluate_subnet(net, arch, data, split="val", bn_images=256, limit=500)
            scores[name] = acc
            reporter.series(f"accuracy/{name} (val)", epoch, acc)
        net.train()

    reporter.progress(0.05, f"training the super-net ({space.size():.3g} sub-nets) for {epochs} epochs")
    if epochs:
        train_supernet(net, data, epochs=epochs, rng=rng, sampling=config.sampling, n_random=config.n_random,
                       distill=config.distill, lr=config.lr, batch_size=config.batch_size, progress=progress,
                       seed=config.seed)
    if not scores:
        for name, arch in probes.items():
            scores[name] = evaluate_subnet(net, arch, data, split="val", bn_images=256, limit=500)
    name = config.name or f"supernet-{choice.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    meta: dict[str, Any] = {"dataset": choice.name, "epochs": epochs, "sampling": config.sampling,
                            "largest_accuracy": scores["largest"], "smallest_accuracy": scores["smallest"],
                            "resolution": max(config.resolutions), "train_limit": config.train_limit,
                            "val_limit": VAL_LIMIT, "dataset_note": choice.note,
                            "seed": config.seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = save_checkpoint(net, name, meta=meta)
    local = reporter.workdir / path.name
    if local.resolve() != path.resolve():
        local.write_bytes(path.read_bytes())
    reporter.artifact("safetensors", local, f"Super-net checkpoint '{name}' (pick it in evolution / later searches)")
    problem = net.problem
    final = latency_for(hardware, space=space, problem=problem, purpose="final", measure={"repeats": 10, "warmup": 3})
    for label, arch in probes.items():
        # each probe's cost and latency on the chosen profile (measured here, else the profile's
        # table or the roofline estimate), so the page can place it on the accuracy-latency plane
        sub = space.build(arch, problem)
        inputs = space.example_inputs(arch, problem)
        cost = profile_model(sub, inputs)
        lat = final.estimate_model(sub, inputs, cost=cost)
        reporter.candidate(dict(arch), {"accuracy": scores[label], "accuracy_source": "supernet",
                                        "subnet": label, "params": cost.params, "macs": cost.macs,
                                        **lat.as_metrics()})
    wall = time.perf_counter() - t0
    reporter.progress(1.0, "done")
    return Summary(f"Super-net '{name}' on {choice.name}: largest sub-net {scores['largest']:.1%}, smallest "
                   f"{scores['smallest']:.1%} (validation, after BN re-calibration)"
                   + (f"; {choice.note}" if choice.note else ""),
                   {"checkpoint": name, "dataset": choice.name, "largest_accuracy": scores["largest"],
                    "smallest_accuracy": scores["smallest"], "wall_s": wall})


