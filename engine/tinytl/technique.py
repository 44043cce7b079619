"""The ``tinytl`` technique: transfer a pre-trained MobileNetV2-style network to a
new task with each method, and measure what training costs in memory.

For every method: one candidate ``{"method": ...}`` with its target accuracy,
the training memory measured (saved activations + parameters + gradients +
optimiser state, one real step) and counted the paper's way, the breakdown,
and whether it fits the chosen hardware profile; series ``val_accuracy/<m>``
and ``loss/<m>``; a JSON artifact of the memory breakdown per batch size.

``tinytl-lb-fa`` adds feature extractor adaptation (:mod:`.adaptation`): a
super-net pre-trained on the same source task, a sub-net picked for the target
data without back-propagation within the memory budget and the device, then
trained with TinyTL-L+B like the fixed backbone; the selection is reported as
series (held-out score by memory, best score per sub-net scored).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.config import ConfigBase, param
from engine.data import DATASETS, ImageData, load_train_test, make_loaders, parse_classes
from engine.hardware.measure import fixed_threads
from engine.networks import keep_network, load_network_setting
from engine.problems import ImageClassification
from engine.reporter import Reporter, Summary
from engine.supernet import recalibrate_bn
from engine.training import classification_step, evaluate, make_optimizer, train_model

from .backbones import BackboneError, backbone_from_network
from .adaptation import (FA_METHOD, FA_TITLE, SEARCHES, SupernetTask, adapt_subnet, frozen_features,
                         pretrained_supernet, ridge_cv_accuracy, select_subnet)
from .lite_residual import LiteSpec
from .memory import analytic_memory, fits_profile, measure_training_memory
from .methods import METHOD_TITLES, METHODS, apply_method, prepare, trainable_params
from .mobilenet import PAPER_SETTINGS, PROXYLESS_MOBILE_SETTINGS, TINY_SETTINGS, MobileNetArch
from .pretrain import SourceTask, WeightsError, load_weights, pretrained

__all__ = ["Config", "run", "BACKBONES", "ALL_METHODS", "backbone_arch", "method_lr"]

BACKBONES = ("mobilenetv2-tiny", "mobilenetv2", "proxylessnas-mobile")
#: the methods on the fixed backbone, then TinyTL-L+B on a sub-net picked by feature extractor adaptation
ALL_METHODS: tuple[str, ...] = (*METHODS, FA_METHOD)
TITLES: dict[str, str] = {**METHOD_TITLES, FA_METHOD: FA_TITLE}


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
    methods: tuple[str, ...] = param(ALL_METHODS, help="Transfer methods to compare (tinytl-lb-fa: TinyTL-L+B on a "
                                                       "sub-net of a super-net, picked for the target data)",
                                     choices=ALL_METHODS)
    backbone: str = param("mobilenetv2-tiny", choices=BACKBONES,
                          help="mobilenetv2-tiny: 4 stages, 256-d features, for 16-64 px; mobilenetv2: the full "
                               "MobileNetV2 layout; proxylessnas-mobile: the ProxylessNAS-Mobile layout of the "
                               "paper's Table 2 (both slow on a CPU)")
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
    backbone_network: str = param("", help="A saved network to adapt instead of pre-training the backbone above "
                                           "(torchvision mobilenet_v2 or a TinyTL MobileNet; its own width)",
                                  max_length=500, network=("image-classification",))
    weights_path: str = param("", help="Optional local .safetensors file of pre-trained weights (skips "
                                       "pre-training)", max_length=500, advanced=True, file="safetensors")
    fa_supernet_epochs: int = param(10, help="Feature extractor adaptation (tinytl-lb-fa): epochs of super-net "
                                             "training on the source task (cached once per setting)", min=1, max=100)
    fa_subnets: int = param(40, help="FA: distinct sub-nets scored on the target training images, forward passes "
                                     "only (a closed-form classifier on frozen features, k-fold held-out accuracy)",
                            min=2, max=1000)
    fa_search: str = param("evolution", help="FA: how sub-nets are drawn: evolution (mutations and crossovers of "
                                             "the best scored so far) or random", choices=SEARCHES)
    fa_memory_budget_kb: float = param(0.0, help="FA: most TinyTL-L+B training memory a sub-net may need (KB, the "
                                                 "paper's count at the batch size); 0 = what TinyTL-L+B needs on the "
                                                 "fixed backbone", min=0.0, max=1e7)
    fa_tolerance: float = param(0.0, help="FA: take the sub-net needing the least memory among those scoring within "
                                          "this of the best held-out score (0: the best score)", min=0.0, max=0.2,
                                advanced=True)
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
        if self.backbone_network and self.weights_path:
            errors["backbone_network"] = "give a saved network or a weights file, not both"
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
    if cfg.backbone == "proxylessnas-mobile":
        return MobileNetArch(width_mult=cfg.width_mult, settings=PROXYLESS_MOBILE_SETTINGS, last_channels=1280)
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


@dataclass
class _Target:
    """What every method shares: the target data, the memory settings, the device."""

    cfg: Config
    hardware: Any
    reporter: Reporter
    shape: tuple[int, int, int]
    xs: torch.Tensor
    ys: torch.Tensor
    num_classes: int
    train_loader: Any
    val_loader: Any
    lite: LiteSpec
    batch_sizes: list[int]
    test_images: int
    #: the trained network of each method (to keep as a saved network)
    models: dict[str, Any] = dataclasses.field(default_factory=dict)


def _train_method(t: _Target, base: torch.nn.Module, method: str, *, label: str, lo: float,
                  span: float) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Measure ``method``'s training memory on ``base`` at every batch size, train
    it, and return the candidate's metrics and the per-batch-size memory."""
    cfg, reporter = t.cfg, t.reporter
    reporter.progress(lo, f"{label}: measuring training memory")
    opt_factory = lambda ps: make_optimizer(ps, name="adam", lr=cfg.lr)  # noqa: E731 (memory: the state is lr-free)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    model = prepare(base, method, efficient=cfg.efficient_layers, int8=cfg.int8_frozen, lite=t.lite,
                    input_shape=t.shape, generator=gen)
    counted = apply_method(base, method, lite=t.lite, input_shape=t.shape, generator=gen)
    per_batch: dict[int, dict[str, Any]] = {}
    for b in t.batch_sizes:
        measured = measure_training_memory(model, _batch_of(t.xs, t.ys, b), make_optimizer=opt_factory)
        analytic = analytic_memory(counted, t.shape, batch_size=b)
        fits, why = fits_profile(t.hardware, activation_bytes=measured.activation_bytes,
                                 trainable_param_bytes=measured.trainable_param_bytes,
                                 frozen_param_bytes=measured.frozen_param_bytes, grad_bytes=measured.grad_bytes,
                                 optimizer_bytes=measured.optimizer_bytes, peak_bytes=measured.peak_bytes or None)
        fits_a, _ = fits_profile(t.hardware, activation_bytes=analytic.activation_bytes,
                                 trainable_param_bytes=analytic.trainable_param_bytes,
                                 frozen_param_bytes=analytic.frozen_param_bytes)
        per_batch[b] = {"measured": measured.to_dict(), "analytic": analytic.to_dict(), "fits_device": fits,
                        "fits_reason": why, "fits_device_analytic": fits_a}
    del counted
    reporter.progress(lo + 0.1 * span, f"{label}: training")

    def progress(frac: float, msg: str, metrics: dict[str, float]) -> None:
        reporter.progress(lo + span * (0.1 + 0.9 * frac), f"{label}: {msg}")
        if "val_acc" in metrics:
            epoch = round(frac * cfg.epochs)
            reporter.series(f"loss/{label}", epoch, metrics["loss"])
            reporter.series(f"val_accuracy/{label}", epoch, metrics["val_acc"])

    lr = method_lr(cfg, method)
    acc0 = evaluate(model, classification_step, t.val_loader)["acc"]
    reporter.series(f"val_accuracy/{label}", 0, acc0)
    # the same seed: every method sees the same batches in the same order
    t.models[label] = model
    hist = train_model(model, t.train_loader.dataset, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=lr,
                       optimizer="adam", seed=cfg.seed, drop_last=True, val_data=t.val_loader.dataset,
                       progress=progress)
    at = per_batch[cfg.batch_size]
    m, a = at["measured"], at["analytic"]
    metrics = {
        "accuracy": hist.val_acc[-1],
        "training_memory_bytes_measured": m["total_bytes"],
        "training_memory_bytes_analytic": a["total_bytes"],
        "training_memory_bytes_peak": m["peak_bytes"],
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
        "lr": lr,
        "test_images": t.test_images,
        "efficient_layers": cfg.efficient_layers,
        "method_title": TITLES[label],
    }
    return metrics, per_batch


_FA_SCATTER = "FA: sub-nets, held-out score by TinyTL-L+B memory (KB, paper's count)"
_FA_CURVE = "FA: best held-out score by sub-nets scored"
#: target training images each candidate's batch norms are re-calibrated on
_FA_BN_IMAGES = 500


def _adapted_extractor(t: _Target, base: torch.nn.Module, *, lo: float, span: float
                       ) -> tuple[torch.nn.Module | None, dict[str, Any]]:
    """Feature extractor adaptation: the super-net (cached), the backprop-free
    selection under the budget and the device, and the chosen sub-net with a
    fresh classifier and batch-norm statistics of the target images."""
    cfg, reporter = t.cfg, t.reporter
    task = SupernetTask(dataset=cfg.source_dataset, classes=cfg.source_classes, resolution=cfg.resolution,
                        width_mult=cfg.width_mult, epochs=cfg.fa_supernet_epochs, seed=cfg.seed)
    net, sn_info = pretrained_supernet(task, progress=lambda f, m: reporter.progress(lo + 0.6 * span * f, m))
    reporter.progress(lo + 0.6 * span, "super-net ready" + (" (cached)" if sn_info["cached"] else ""))
    b = cfg.batch_size
    backbone_mem = analytic_memory(apply_method(base, "tinytl-lb", lite=t.lite, input_shape=t.shape,
                                                generator=torch.Generator().manual_seed(0)), t.shape, batch_size=b)
    budget = cfg.fa_memory_budget_kb * 1024 if cfg.fa_memory_budget_kb else backbone_mem.total_bytes
    # the fixed backbone scored the same way (its batch norms re-calibrated on the target images), for reference
    ref = copy.deepcopy(base)
    recalibrate_bn(ref, (t.xs[i:i + 250] for i in range(0, min(len(t.xs), _FA_BN_IMAGES), 250)))
    backbone_score = ridge_cv_accuracy(frozen_features(ref, t.xs), t.ys, t.num_classes, seed=cfg.seed)
    del ref
    reporter.series(f"{_FA_SCATTER}/fixed backbone", backbone_mem.total_bytes / 1024, backbone_score)

    def on_trial(trial: Any, n: int) -> None:
        reporter.series(f"{_FA_SCATTER}/sub-nets scored", trial.memory_bytes / 1024, trial.score)
        best[0] = max(best[0], trial.score)
        reporter.series(f"{_FA_CURVE}/{cfg.fa_search}", n, best[0])
        reporter.progress(lo + span * (0.6 + 0.4 * n / cfg.fa_subnets),
                          f"{FA_METHOD}: sub-net {n}/{cfg.fa_subnets} scored {trial.score:.3f} at "
                          f"{trial.memory_bytes / 1024:.0f} KB")

    best = [-math.inf]
    sel = select_subnet(net, t.xs, t.ys, num_classes=t.num_classes, budget_bytes=budget, hardware=t.hardware,
                        evaluations=cfg.fa_subnets, rng=np.random.default_rng(cfg.seed + 3), search=cfg.fa_search,
                        lite=t.lite, batch_size=b, tolerance=cfg.fa_tolerance, seed=cfg.seed, bn_images=_FA_BN_IMAGES,
                        on_trial=on_trial)
    info: dict[str, Any] = {"supernet": {k: v for k, v in sn_info.items() if k != "path"}, "selection": sel.to_dict(),
                            "backbone_score": backbone_score, "backbone_memory_bytes": backbone_mem.total_bytes,
                            "how": f"per sub-net, forward passes only: batch norms re-calibrated on "
                                   f"{min(len(t.xs), _FA_BN_IMAGES)} target training images, pooled features, "
                                   "ridge regression on one-hot labels, 5-fold held-out accuracy on the target "
                                   "training images; memory: TinyTL-L+B by the paper's count (budget) and on the "
                                   "device (activations, trainable and frozen parameters)"}
    if sel.best is None:
        return None, info
    chosen = sel.best
    reporter.series(f"{_FA_SCATTER}/chosen", chosen.memory_bytes / 1024, chosen.score)
    sub = adapt_subnet(net, chosen.arch, t.xs[:_FA_BN_IMAGES], num_classes=t.num_classes,
                       generator=torch.Generator().manual_seed(cfg.seed + 1))
    info["metrics"] = {"fa_score": chosen.score, "fa_backbone_score": backbone_score,
                       "fa_subnets_scored": len(sel.trials), "fa_subnets_rejected": sel.rejected,
                       "fa_budget_bytes": budget, "fa_selection_s": sel.seconds, "fa_search": sel.search,
                       "subnet": net.space.describe(chosen.arch),
                       "supernet_largest_source_accuracy": sn_info.get("largest_accuracy"),
                       "supernet_smallest_source_accuracy": sn_info.get("smallest_accuracy")}
    return sub, info


def _run(cfg: Config, hardware: Any, reporter: Reporter) -> Summary:
    reporter.progress(0.0, "preparing the feature extractor")
    arch = backbone_arch(cfg)
    parent = None
    if cfg.backbone_network:
        parent, module = load_network_setting(cfg.backbone_network, setting="backbone_network")
        try:
            base, arch = backbone_from_network(parent, module)
        except BackboneError as e:
            raise ValueError(f"backbone_network: {e}") from None
        source_info: dict[str, Any] = {"cached": True, "network": parent.name, "network_id": parent.id,
                                       "source_accuracy": parent.metrics.get("accuracy")}
    elif cfg.weights_path:
        try:
            base, meta = load_weights(Path(cfg.weights_path).expanduser(), arch)
        except WeightsError as e:
            raise ValueError(str(e)) from None
        source_info = {"cached": True, "path": cfg.weights_path, "source_accuracy": None}
    else:
        task = SourceTask(dataset=cfg.source_dataset, classes=cfg.source_classes, resolution=cfg.resolution,
                          epochs=cfg.source_epochs, seed=cfg.seed)
        base, source_info = pretrained(arch, task, progress=lambda f, m: reporter.progress(0.25 * f, m))
    reporter.progress(0.25, "feature extractor ready" + (" (cached)" if source_info["cached"] else ""))

    shape = (3, cfg.resolution, cfg.resolution)
    train, val = load_train_test(cfg.target_dataset, classes=cfg.target_classes, image_size=cfg.resolution,
                                 channels=3)
    train, val = _split_target(train, val, cfg.train_limit, seed=cfg.seed, test_unused=cfg.test_unused)
    train_loader, val_loader = make_loaders(train, val, batch_size=cfg.batch_size, seed=cfg.seed)
    xs, ys = train_loader.dataset.tensors  # type: ignore[attr-defined]
    head_gen = torch.Generator().manual_seed(cfg.seed + 1)
    base.reset_classifier(train.num_classes, head_gen)
    lite = LiteSpec(kernel=cfg.lite_kernel, groups=cfg.lite_groups, skip_first=cfg.lite_skip_first)
    target = _Target(cfg, hardware, reporter, shape, xs, ys, train.num_classes, train_loader, val_loader, lite,
                     sorted({cfg.batch_size, *cfg.memory_batch_sizes}), len(val.y))

    results: dict[str, dict[str, Any]] = {}
    fa_info: dict[str, Any] | None = None
    n = len(cfg.methods)
    for k, method in enumerate(cfg.methods):
        lo, span = 0.25 + 0.75 * k / n, 0.75 / n
        model_base, apply_as, extra = base, method, {}
        if method == FA_METHOD:
            sub, fa_info = _adapted_extractor(target, base, lo=lo, span=0.5 * span)
            if sub is None:
                reporter.progress(lo + 0.5 * span, f"{FA_METHOD}: no sub-net within the memory budget fits "
                                                   f"{getattr(hardware, 'name', 'the device')}; skipped")
                continue
            model_base, apply_as, extra = sub, "tinytl-lb", fa_info.pop("metrics")
            lo, span = lo + 0.5 * span, 0.5 * span
        metrics, per_batch = _train_method(target, model_base, apply_as, label=method, lo=lo, span=span)
        metrics.update(extra)
        index = reporter.candidate({"method": method}, metrics)
        if method != FA_METHOD:  # the FA sub-net is an MBConv network of the super-net, kept in the report only
            _keep(target, model_base.arch, method, metrics, index, parent)
        results[method] = {"accuracy": metrics["accuracy"], "title": TITLES[method],
                           "trainable_params": metrics["trainable_params"],
                           "by_batch_size": {str(b): v for b, v in per_batch.items()}}
        if method == FA_METHOD:
            results[method]["subnet"] = extra["subnet"]

    path = Path(reporter.workdir) / "tinytl-memory.json"
    doc = {"hardware": getattr(hardware, "name", str(hardware)), "batch_size": cfg.batch_size,
           "input_shape": list(shape), "efficient_layers": cfg.efficient_layers, "int8_frozen": cfg.int8_frozen,
           "source": {k: v for k, v in source_info.items() if k != "path"},
           "measured_how": "saved_tensors_hooks bytes (deduplicated storages, model state excluded) + parameters "
                           "and buffers + gradients + Adam state after one real step",
           "peak_how": "allocator-level high-water mark of one whole training step (forward, backward, Adam "
                       "step): torch.profiler memory events (every CPU allocation and free) summed in time order "
                       "from the bytes live at the start (parameters, buffers, the batch)",
           "analytic_how": "TinyTL paper's count: conv/linear/norm store their input only when their weight trains, "
                           "ReLU 1 bit/element, frozen weights 8-bit; peak activation x batch + parameters",
           "methods": results}
    if fa_info is not None:
        doc["feature_extractor_adaptation"] = fa_info
    path.write_text(json.dumps(doc, indent=1))
    reporter.artifact("json", path, "Training memory per method and batch size: measured and analytic"
                      + ("; the feature extractor adaptation's sub-nets" if fa_info is not None else ""),
                      group="memory")
    reporter.progress(1.0, "done")
    return _summary(cfg, hardware, results, fa_info)


def _keep(t: _Target, arch: MobileNetArch, method: str, metrics: dict[str, Any], index: int,
          parent: Any) -> None:
    """The adapted network as a saved network (its parent: the backbone network, when one was chosen)."""
    cfg = t.cfg
    d = arch.to_dict()
    spec = {"builder": "tinytl", "args": {"arch": {k: v for k, v in d.items() if k not in ("num_classes", "in_channels")},
                                          "method": method, "lite": dataclasses.asdict(t.lite),
                                          "efficient": cfg.efficient_layers, "int8": cfg.int8_frozen}}
    keep_network(t.reporter, t.models[method], name=f"{method}-{cfg.target_dataset}", spec=spec,
                 problem=ImageClassification(3, cfg.resolution, t.num_classes), dataset=cfg.target_dataset,
                 metrics={k: metrics[k] for k in ("accuracy", "trainable_params", "training_memory_bytes_measured",
                                                  "training_memory_bytes_analytic") if k in metrics}
                 | {"accuracy_source": "transfer-trained"},
                 made_by=f"{TITLES[method]}, {cfg.epochs} epochs on {cfg.target_dataset} classes {cfg.target_classes}",
                 technique="tinytl", parent=parent, candidate=index,
                 preprocess={"channels": 3, "resize": f"{cfg.resolution} px", "scale": "normalised with the target "
                             "training images' per-channel mean and std"})


def _summary(cfg: Config, hardware: Any, results: dict[str, dict[str, Any]],
             fa_info: dict[str, Any] | None) -> Summary:
    summary: dict[str, Any] = {f"accuracy_{m}": r["accuracy"] for m, r in results.items()}
    at = {m: r["by_batch_size"][str(cfg.batch_size)] for m, r in results.items()}
    for key, method in (("", "tinytl-lb"), ("_fa", FA_METHOD)):
        if "ft-full" in at and method in at:
            for how in ("measured", "analytic"):
                summary[f"memory_reduction{key}_{how}"] = (at["ft-full"][how]["total_bytes"]
                                                           / at[method][how]["total_bytes"])
            full_peak, peak = at["ft-full"]["measured"].get("peak_bytes"), at[method]["measured"].get("peak_bytes")
            if full_peak and peak:
                summary[f"memory_reduction{key}_measured_peak"] = full_peak / peak
    fitting = [m for m in results if at[m]["fits_device"]]
    best = max(fitting, key=lambda mm: results[mm]["accuracy"], default=None)
    msg = (f"best method that fits {getattr(hardware, 'name', 'the device')}: {best} "
           f"({results[best]['accuracy']:.3f})" if best else "no method fits the device's memory")
    for key, title in (("", "TinyTL-L+B"), ("_fa", "with feature extractor adaptation")):
        if f"memory_reduction{key}_analytic" in summary:
            peak = summary.get(f"memory_reduction{key}_measured_peak")
            measured = f"{peak:.1f}x measured (peak of a training step)" if peak else "no measured peak"
            msg += (f"; {title} needs {measured} and {summary[f'memory_reduction{key}_analytic']:.1f}x by the "
                    f"paper's count less memory than FT-Full")
    if FA_METHOD in results:
        summary["fa_subnet"] = results[FA_METHOD]["subnet"]
    elif fa_info is not None:
        msg += "; feature extractor adaptation found no sub-net within the memory budget that fits the device"
    summary["best_fitting_method"] = best or ""
    return Summary(message=msg, metrics={k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                         for k, v in summary.items()})
