"""The ``tinytl`` technique: transfer a pre-trained MobileNetV2-style network to a
new task with each method, and measure what training costs in memory.

For every method: one candidate ``{"method": ...}`` with its target accuracy,
the training memory measured (saved activations + parameters + gradients +
optimiser state, one real step) and counted the paper's way, the breakdown,
and whether it fits the chosen hardware profile; series ``val_accuracy/<m>``
and ``loss/<m>``; a JSON artifact of the memory breakdown per batch size.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import ConfigBase, param
from engine.data import DATASETS, ImageData, load_dataset, make_loaders
from engine.hardware.measure import fixed_threads
from engine.reporter import Reporter, Summary
from engine.train import classification_step, evaluate, fit, make_optimizer

from .lite_residual import LiteSpec
from .memory import analytic_memory, fits_profile, measure_training_memory
from .methods import METHOD_TITLES, METHODS, apply_method, prepare, trainable_params
from .mobilenet import PAPER_SETTINGS, TINY_SETTINGS, MobileNetArch
from .pretrain import SourceTask, WeightsError, load_weights, parse_classes, pretrained

__all__ = ["Config", "run", "BACKBONES", "backbone_arch", "method_lr"]

BACKBONES = ("mobilenetv2-tiny", "mobilenetv2")


@dataclass(frozen=True)
class Config(ConfigBase):
    source_dataset: str = param("mnist-5k", help="Dataset the feature extractor is pre-trained on",
                                choices=DATASETS)
    source_classes: str = param("0-4", help="Source classes: 'all', or indices and ranges such as 0-4",
                                max_length=100)
    target_dataset: str = param("mnist-5k", help="Dataset of the new task the methods transfer to",
                                choices=DATASETS)
    target_classes: str = param("5-9", help="Target classes: 'all', or indices and ranges such as 5-9",
                                max_length=100)
    methods: tuple[str, ...] = param(METHODS, help="Transfer methods to compare", choices=METHODS)
    backbone: str = param("mobilenetv2-tiny", choices=BACKBONES,
                          help="mobilenetv2-tiny: 4 stages, 256-d features, for 16-64 px; mobilenetv2: the full "
                               "MobileNetV2 layout (slow on a CPU)")
    width_mult: float = param(0.5, help="Channel width multiplier of the backbone", min=0.25, max=1.5)
    resolution: int = param(32, help="Input resolution in pixels (images are resized, 3 channels)",
                            min=16, max=224)
    source_epochs: int = param(6, help="Epochs of source pre-training (cached once per setting)", min=1, max=100)
    epochs: int = param(6, help="Epochs of transfer training per method", min=1, max=100)
    batch_size: int = param(8, help="Training batch size (the paper uses 8); memory is measured at it",
                            min=1, max=256)
    memory_batch_sizes: tuple[int, ...] = param((1, 8, 32), help="Further batch sizes to measure memory at",
                                                min=1, max=256, max_items=6, advanced=True)
    lr: float = param(1e-2, help="Adam learning rate of FT-Full (every weight trains)", min=1e-6, max=1.0)
    lr_frozen: float = param(3e-2, help="Adam learning rate of the methods that keep the weights frozen (FT-Last, "
                                        "FT-Norm+Last, TinyTL-B, TinyTL-L+B): they need a higher one than "
                                        "FT-Full, as in the TinyTL paper", min=1e-6, max=1.0)
    train_limit: int = param(1000, help="Target training images to use (on-device data is small); 0 = all",
                             min=0, max=100000)
    test_unused: bool = param(True, help="Also test on the target-class training images that train_limit leaves "
                                         "out (never trained on): more test images, a steadier accuracy")
    lite_skip_first: bool = param(True, help="Leave the first inverted-residual block (at the highest resolution) "
                                             "without a lite residual, as the reference code does", advanced=True)
    efficient_layers: bool = param(True, help="Rewrite frozen layers as memory-efficient autograd functions "
                                              "(off: stock PyTorch layers, which save far more)")
    int8_frozen: bool = param(False, help="Hold frozen convolution weights in int8 (per-channel scale)",
                              advanced=True)
    lite_kernel: int = param(5, help="Kernel of the lite residual's group convolution", choices=(1, 3, 5, 7),
                             advanced=True)
    lite_groups: int = param(2, help="Groups of the lite residual's convolution", min=1, max=16, advanced=True)
    weights_path: str = param("", help="Optional local .safetensors file of pre-trained weights (skips "
                                       "pre-training)", max_length=500, advanced=True, file="safetensors")
    threads: int = param(1, help="CPU threads (1 is fastest on a shared machine; 0 keeps torch's default)",
                         min=0, max=256, advanced=True)
    seed: int = param(0, help="Random seed", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        for name in ("source_classes", "target_classes"):
            try:
                parse_classes(getattr(self, name))
            except ValueError as e:
                errors[name] = str(e)
        if not errors and self.source_dataset == self.target_dataset:
            src = parse_classes(self.source_classes)
            tgt = parse_classes(self.target_classes)
            if src is None or tgt is None or set(src) & set(tgt):
                errors["target_classes"] = ("overlaps the source classes of the same dataset; choose classes the "
                                            "feature extractor has not seen")
        if self.weights_path:
            p = Path(self.weights_path).expanduser()
            # existence is checked when the file is read (the dashboard passes
            # paths of its own uploads, resolved only on the worker)
            if p.suffix != ".safetensors":
                errors["weights_path"] = "must be a .safetensors file"
        return errors


def backbone_arch(cfg: Config) -> MobileNetArch:
    if cfg.backbone == "mobilenetv2":
        return MobileNetArch(width_mult=cfg.width_mult, settings=PAPER_SETTINGS, last_channels=1280)
    return MobileNetArch(width_mult=cfg.width_mult, settings=TINY_SETTINGS, last_channels=256)


def method_lr(cfg: Config, method: str) -> float:
    """FT-Full trains at ``lr``; the frozen-weight methods at ``lr_frozen``."""
    return cfg.lr if method == "ft-full" else cfg.lr_frozen


def _split_target(train: ImageData, val: ImageData, limit: int, *, seed: int,
                  test_unused: bool) -> tuple[ImageData, ImageData]:
    """``limit`` training images (a seeded random pick); with ``test_unused`` the
    training images not picked join the test split."""
    if not limit or limit >= len(train.y):
        return train, val
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(train.y)))
    picked, rest = perm[:limit], perm[limit:]
    out = ImageData(train.name, train.x[picked], train.y[picked], train.classes, train.source)
    if test_unused:
        val = ImageData(val.name, torch.cat([val.x, train.x[rest]]), torch.cat([val.y, train.y[rest]]),
                        val.classes, val.source)
    return out, val


def _batch_of(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.arange(n) % len(y)
    return x[idx], y[idx]


def run(config: Config, hardware: Any, reporter: Reporter) -> Summary:
    with fixed_threads(config.threads or None):
        return _run(config, hardware, reporter)


def _run(cfg: Config, hardware: Any, reporter: Reporter) -> Summary:
    reporter.progress(0.0, "preparing the feature extractor")
    arch = backbone_arch(cfg)
    if cfg.weights_path:
        try:
            base, meta = load_weights(Path(cfg.weights_path).expanduser(), arch)
        except WeightsError as e:
            raise ValueError(str(e)) from None
        source_info: dict[str, Any] = {"cached": True, "path": cfg.weights_path, "source_accuracy": None}
    else:
        task = SourceTask(dataset=cfg.source_dataset, classes=cfg.source_classes, resolution=cfg.resolution,
                          epochs=cfg.source_epochs, seed=cfg.seed)
        base, source_info = pretrained(arch, task, progress=lambda f, m: reporter.progress(0.25 * f, m))
    reporter.progress(0.25, "feature extractor ready" + (" (cached)" if source_info["cached"] else ""))

    shape = (3, cfg.resolution, cfg.resolution)
    train = load_dataset(cfg.target_dataset, train=True, image_size=cfg.resolution, channels=3)
    val = load_dataset(cfg.target_dataset, train=False, image_size=cfg.resolution, channels=3)
    keep = parse_classes(cfg.target_classes, train.num_classes)
    if keep is not None:
        train, val = train.subset_classes(keep), val.subset_classes(keep)
    train, val = _split_target(train, val, cfg.train_limit, seed=cfg.seed, test_unused=cfg.test_unused)
    train_loader, val_loader = make_loaders(train, val, batch_size=cfg.batch_size, seed=cfg.seed)
    xs, ys = train_loader.dataset.tensors  # type: ignore[attr-defined]
    head_gen = torch.Generator().manual_seed(cfg.seed + 1)
    base.reset_classifier(train.num_classes, head_gen)
    lite = LiteSpec(kernel=cfg.lite_kernel, groups=cfg.lite_groups, skip_first=cfg.lite_skip_first)
    opt_factory = lambda ps: make_optimizer(ps, name="adam", lr=cfg.lr)  # noqa: E731 (memory: the state is lr-free)
    batch_sizes = sorted({cfg.batch_size, *cfg.memory_batch_sizes})

    results: dict[str, dict[str, Any]] = {}
    n = len(cfg.methods)
    for k, method in enumerate(cfg.methods):
        lo, span = 0.25 + 0.75 * k / n, 0.75 / n
        reporter.progress(lo, f"{method}: measuring training memory")
        gen = torch.Generator().manual_seed(cfg.seed + 2)
        model = prepare(base, method, efficient=cfg.efficient_layers, int8=cfg.int8_frozen, lite=lite,
                        input_shape=shape, generator=gen)
        counted = apply_method(base, method, lite=lite, input_shape=shape, generator=gen)
        per_batch = {}
        for b in batch_sizes:
            measured = measure_training_memory(model, _batch_of(xs, ys, b), make_optimizer=opt_factory)
            analytic = analytic_memory(counted, shape, batch_size=b)
            fits, why = fits_profile(hardware, activation_bytes=measured.activation_bytes,
                                     trainable_param_bytes=measured.trainable_param_bytes,
                                     frozen_param_bytes=measured.frozen_param_bytes, grad_bytes=measured.grad_bytes,
                                     optimizer_bytes=measured.optimizer_bytes)
            fits_a, _ = fits_profile(hardware, activation_bytes=analytic.activation_bytes,
                                     trainable_param_bytes=analytic.trainable_param_bytes,
                                     frozen_param_bytes=analytic.frozen_param_bytes)
            per_batch[b] = {"measured": measured.to_dict(), "analytic": analytic.to_dict(), "fits_device": fits,
                            "fits_reason": why, "fits_device_analytic": fits_a}
        del counted
        reporter.progress(lo + 0.1 * span, f"{method}: training")

        def progress(frac: float, msg: str, metrics: dict[str, float], _m=method, _lo=lo) -> None:
            reporter.progress(_lo + span * (0.1 + 0.9 * frac), f"{_m}: {msg}")
            if "val_acc" in metrics:
                epoch = round(frac * cfg.epochs)
                reporter.series(f"loss/{_m}", epoch, metrics["loss"])
                reporter.series(f"val_accuracy/{_m}", epoch, metrics["val_acc"])

        opt = make_optimizer(list(model.parameters()), name="adam", lr=method_lr(cfg, method))
        _, acc0 = evaluate(model, classification_step, val_loader)
        reporter.series(f"val_accuracy/{method}", 0, acc0)
        hist = fit(model, classification_step, train_loader, epochs=cfg.epochs, optimizer=opt,
                   val_loader=val_loader, progress=progress)
        acc = hist.val_acc[-1]
        at = per_batch[cfg.batch_size]
        m, a = at["measured"], at["analytic"]
        metrics = {
            "accuracy": acc,
            "training_memory_bytes_measured": m["total_bytes"],
            "training_memory_bytes_analytic": a["total_bytes"],
            "activation_bytes_measured": m["activation_bytes"],
            "param_bytes_measured": m["param_bytes"],
            "grad_bytes_measured": m["grad_bytes"],
            "optimizer_bytes_measured": m["optimizer_bytes"],
            "activation_bytes_analytic": a["activation_bytes"],
            "param_bytes_analytic": a["param_bytes"],
            "fits_device": at["fits_device"],
            "fits_device_analytic": at["fits_device_analytic"],
            "fits_reason": at["fits_reason"],
            "trainable_params": trainable_params(model),
            "params": sum(p.numel() for p in model.parameters()),
            "batch_size": cfg.batch_size,
            "lr": method_lr(cfg, method),
            "test_images": len(val.y),
            "efficient_layers": cfg.efficient_layers,
            "method_title": METHOD_TITLES[method],
        }
        reporter.candidate({"method": method}, metrics)
        results[method] = {"accuracy": acc, "title": METHOD_TITLES[method], "trainable_params": metrics["trainable_params"],
                           "by_batch_size": {str(b): v for b, v in per_batch.items()}}

    path = Path(reporter.workdir) / "tinytl-memory.json"
    doc = {"hardware": getattr(hardware, "name", str(hardware)), "batch_size": cfg.batch_size,
           "input_shape": list(shape), "efficient_layers": cfg.efficient_layers, "int8_frozen": cfg.int8_frozen,
           "source": {k: v for k, v in source_info.items() if k != "path"},
           "measured_how": "saved_tensors_hooks bytes (deduplicated storages, model state excluded) + parameters "
                           "and buffers + gradients + Adam state after one real step",
           "analytic_how": "TinyTL paper's count: conv/linear/norm store their input only when their weight trains, "
                           "ReLU 1 bit/element, frozen weights 8-bit; peak activation x batch + parameters",
           "methods": results}
    path.write_text(json.dumps(doc, indent=1))
    reporter.artifact("json", path, "Training memory per method and batch size: measured and analytic", group="memory")
    reporter.progress(1.0, "done")
    summary: dict[str, Any] = {f"accuracy_{m}": r["accuracy"] for m, r in results.items()}
    if "ft-full" in results and "tinytl-lb" in results:
        full = results["ft-full"]["by_batch_size"][str(cfg.batch_size)]
        tl = results["tinytl-lb"]["by_batch_size"][str(cfg.batch_size)]
        summary["memory_reduction_measured"] = full["measured"]["total_bytes"] / tl["measured"]["total_bytes"]
        summary["memory_reduction_analytic"] = full["analytic"]["total_bytes"] / tl["analytic"]["total_bytes"]
    fitting = [m for m, r in results.items() if r["by_batch_size"][str(cfg.batch_size)]["fits_device"]]
    best = max(fitting, key=lambda mm: results[mm]["accuracy"], default=None)
    msg = (f"best method that fits {getattr(hardware, 'name', 'the device')}: {best} "
           f"({results[best]['accuracy']:.3f})" if best else "no method fits the device's memory")
    if "memory_reduction_measured" in summary:
        msg += f"; TinyTL-L+B needs {summary['memory_reduction_measured']:.1f}x less memory than FT-Full"
    summary["best_fitting_method"] = best or ""
    return Summary(message=msg, metrics={k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                         for k, v in summary.items()})

