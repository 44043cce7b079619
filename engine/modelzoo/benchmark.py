"""Benchmark torchvision classifiers: cost model, latency on the chosen profile
(measured on this machine, else the profile's lookup table or roofline
estimate, its source labelled) and, when asked, accuracy after a short
training from scratch.

The pieces work without a reporter (from a notebook):

    model = build_model("mobilenet_v2", width=0.5, num_classes=10)
    cost = profile_model(model, ImageClassification(size=64).example_inputs())
    latency_metrics(model, 64, hardware=local_cpu_profile())
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageData, load_dataset, make_loaders
from ..hardware.cost import ModelCost, profile_model
from ..hardware.latency import latency_for
from ..hardware.lut.table import LookupTable
from ..hardware.profile import HardwareProfile
from ..networks import keep_network
from ..problems import ImageClassification
from ..reporter import Reporter, Summary
from ..supernet.bn import recalibrate_bn
from ..training import StepOutput, classification_step, evaluate, train_model
from .config import Config, skipped_combinations
from .zoo import build_model

__all__ = ["Candidate", "plan", "cost_metrics", "latency_metrics", "layer_table", "load_training_data",
           "train_classifier", "run", "known_num_classes"]

#: Class counts of the datasets whose size is known without loading them
#: (the untrained benchmark needs only the classifier's width).
_NUM_CLASSES = {"mnist-5k": 10, "digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10, "svhn": 10,
                "cifar100": 100}
VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Candidate:
    model: str
    width: float
    resolution: int

    @property
    def architecture(self) -> dict[str, Any]:
        return {"model": self.model, "width": self.width, "resolution": self.resolution}

    @property
    def key(self) -> str:
        """A short name safe in file and series names: ``mobilenet_v2-w0.5-r32``."""
        return f"{self.model}-w{self.width:g}-r{self.resolution}"


def plan(config: Config) -> tuple[list[Candidate], list[tuple[str, float]]]:
    """The networks to benchmark, and the (model, width) pairs skipped."""
    skipped = skipped_combinations(config.models, config.widths)
    todo = [Candidate(m, float(w), int(r)) for m in config.models for w in config.widths
            if (m, w) not in skipped for r in config.resolutions]
    return todo, skipped


def known_num_classes(dataset: str) -> int:
    if dataset in _NUM_CLASSES:
        return _NUM_CLASSES[dataset]
    return load_dataset(dataset, train=True).num_classes


def cost_metrics(cost: ModelCost, hardware: HardwareProfile) -> dict[str, Any]:
    """Params, MACs and activation memory from the cost model (fp32, batch 1)."""
    return {
        "params": cost.params,
        "macs": cost.macs,
        "peak_memory_bytes": cost.peak_activation_bytes,
        "fits_memory": cost.inference_memory_bytes("fp32") <= hardware.memory_capacity_mb * 2**20,
    }


def latency_metrics(model: nn.Module, resolution: int, *, hardware: HardwareProfile, repeats: int = 10,
                    warmup: int = 3, threads: int | None = 1, clock: str = "wall",
                    lut: LookupTable | None = None, cost: ModelCost | None = None) -> dict[str, Any]:
    """Latency of one RGB image at ``resolution`` (batch 1) on ``hardware``, with
    its source, from the engine's one entry point
    (:func:`engine.hardware.latency.latency_for`, ``purpose="final"``):
    measured here when the profile is this machine (``measurable``), else the
    profile's lookup table when given and applicable, else the roofline estimate.
    """
    problem = ImageClassification(size=resolution)
    est = latency_for(hardware, problem=problem, purpose="final", lut=lut,
                      measure={"threads": threads or None, "warmup": warmup, "repeats": repeats, "clock": clock})
    e = est.estimate_model(model, problem.example_inputs(), cost=cost)
    out = {**e.as_metrics(), "latency_profile": hardware.name}
    if e.source == "measured":
        out.update(latency_threads=e.detail["threads"], latency_clock=clock)
    return out


def layer_table(cost: ModelCost) -> list[dict[str, Any]]:
    """The cost model's per-layer rows as plain JSON-ready dicts."""
    return [{"name": lc.name, "op": lc.op, "macs": lc.macs, "params": lc.params,
             "in_shape": list(lc.in_shape), "out_shape": list(lc.out_shape),
             "activation_bytes": lc.activation_bytes(), "attrs": lc.attrs} for lc in cost.layers]


def load_training_data(dataset: str, *, max_train_samples: int, seed: int) -> tuple[ImageData, ImageData]:
    """A stratified train/validation split at the dataset's native size.

    Images are resized (and made 3-channel) per batch in the training step,
    so one load serves every resolution without holding large copies.
    """
    data = load_dataset(dataset, train=True)
    n_val = max(200, max_train_samples // 4)
    k = data.num_classes  # the stratified split rounds per class: keep a margin of k on each side
    data = data.limit(max_train_samples + n_val + 2 * k, seed=seed)
    frac = min(0.5, max(VAL_FRACTION, (n_val + k) / max(len(data.y), 1)))
    train, val = data.split(frac, seed=seed)
    return train.limit(max_train_samples, seed=seed), val.limit(n_val, seed=seed)


def _to_input(x: torch.Tensor, resolution: int) -> torch.Tensor:
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > resolution)
    return x


def resizing_step(resolution: int) -> Callable[[nn.Module, Any], StepOutput]:
    """The classification step on images resized to ``resolution``, 3 channels."""
    def step(model: nn.Module, batch: Any) -> StepOutput:
        x, y = batch
        return classification_step(model, (_to_input(x, resolution), y))
    return step


def train_classifier(model: nn.Module, train: ImageData, val: ImageData, *, resolution: int, epochs: int,
                     batch_size: int, lr: float, optimizer: str = "adamw", seed: int = 0,
                     progress: Callable[[float, str, dict[str, float]], None] | None = None,
                     calibration_images: int = 512) -> list[float]:
    """Train ``model`` from scratch with the engine's loop and return the
    validation accuracy after each epoch.

    Before each evaluation the batch-norm statistics are recomputed on
    ``calibration_images`` training images: after a short training the running
    averages lag far behind the weights (MnasNet's BN momentum is 3e-4,
    MobileNetV3's 0.01), which leaves eval-mode accuracy near chance even when
    the training loss has fallen. ``progress`` receives ``val_acc`` and
    ``val_loss`` in the epoch-end metrics, as ``fit`` would give them.
    """
    step = resizing_step(resolution)
    train_loader, val_loader = make_loaders(train, val, batch_size=batch_size, seed=seed)
    calib_loader, _ = make_loaders(train, None, batch_size=batch_size, seed=seed + 1)
    accuracies: list[float] = []

    def on_progress(frac: float, message: str, metrics: dict[str, float]) -> None:
        if "epoch" in metrics:  # fit's end-of-epoch call: calibrate BN, then validate
            n_batches = max(1, -(-calibration_images // batch_size))
            recalibrate_bn(model, (_to_input(x, resolution) for x, _ in islice(calib_loader, n_batches)))
            scores = evaluate(model, step, val_loader)
            val_loss, val_acc = scores["loss"], scores["acc"]
            accuracies.append(val_acc)
            metrics = {**metrics, "val_loss": val_loss, "val_acc": val_acc}
            message += f", val acc {val_acc:.3f}"
        if progress is not None:
            progress(frac, message, metrics)

    # dropout draws from the global generator, which train_model forks and seeds
    train_model(model, train_loader.dataset, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                weight_decay=0.05 if optimizer == "adamw" else 0.0, seed=seed, drop_last=True, step=step,
                progress=on_progress)
    return accuracies


def run(config: Config, hardware: HardwareProfile, reporter: Reporter) -> Summary:
    todo, skipped = plan(config)
    training = config.train_epochs > 0
    for m, w in skipped:
        reporter.progress(0.0, f"skipping {m} at width {w:g}: the family has no such variant")
    data: tuple[ImageData, ImageData] | None = None
    if training:
        reporter.progress(0.0, f"loading {config.dataset}")
        data = load_training_data(config.dataset, max_train_samples=config.max_train_samples, seed=config.seed)
        num_classes = data[0].num_classes
    else:
        num_classes = known_num_classes(config.dataset)
    layers_dir = Path(reporter.workdir) / "layers"
    layers_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[Candidate, dict[str, Any]]] = []
    n = len(todo)
    for i, cand in enumerate(todo):
        base, span = i / n, 1.0 / n
        reporter.progress(base, f"[{i + 1}/{n}] {cand.key}: building and profiling")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_model(cand.model, width=cand.width, num_classes=num_classes)
        cost = profile_model(model, ImageClassification(size=cand.resolution).example_inputs())
        metrics = cost_metrics(cost, hardware)
        reporter.progress(base + span * 0.1, f"[{i + 1}/{n}] {cand.key}: latency on {hardware.name}")
        metrics.update(latency_metrics(model, cand.resolution, hardware=hardware, repeats=config.latency_repeats,
                                       warmup=config.latency_warmup, threads=config.threads,
                                       clock=config.latency_clock, cost=cost))
        if training and data is not None:
            metrics.update(_train_and_report(model, cand, data, config, reporter, base + span * 0.3, span * 0.7))
        index = reporter.candidate(cand.architecture, metrics)
        path = layers_dir / f"{cand.key}.json"
        path.write_text(json.dumps({"architecture": cand.architecture, "input_shape": list(cost.input_shape),
                                    "num_classes": num_classes, **cost.summary(), "layers": layer_table(cost)},
                                   indent=1), encoding="utf-8")
        reporter.artifact("json", path, caption=f"Per-layer cost of {cand.key}", group="layers",
                          candidate=index)
        if training and data is not None:
            keep_network(reporter, model, name=cand.key, spec={"builder": "torchvision", "args": {
                "model": cand.model, "width": cand.width}},
                problem=ImageClassification(channels=3, size=cand.resolution, classes=num_classes),
                dataset=config.dataset, metrics=metrics, technique="model-zoo", candidate=index,
                made_by=f"trained from scratch for {config.train_epochs} epoch{'s' if config.train_epochs != 1 else ''} "
                        f"on {config.dataset} ({metrics.get('train_samples')} images)",
                preprocess={"channels": 3, "resize": f"bilinear to {cand.resolution} px, grey images repeated "
                            "on 3 channels", "scale": "the dataset loader's normalisation"})
        results.append((cand, metrics))
        reporter.progress(base + span, f"[{i + 1}/{n}] {cand.key}: {metrics['latency_ms']:.2f} ms"
                          + (f", accuracy {metrics['accuracy']:.3f}" if "accuracy" in metrics else ""))
    return _summary(results, skipped, hardware, training)


def _train_and_report(model: nn.Module, cand: Candidate, data: tuple[ImageData, ImageData], config: Config,
                      reporter: Reporter, start: float, span: float) -> dict[str, Any]:
    epochs = config.train_epochs
    last: dict[str, float] = {}

    def progress(frac: float, message: str, m: dict[str, float]) -> None:
        reporter.progress(start + span * frac, f"{cand.key}: {message}")
        if "val_acc" in m:
            last.update(m)
            reporter.series(f"val_accuracy/{cand.key}", round(frac * epochs), m["val_acc"])
        elif "loss" in m:
            reporter.series(f"loss/{cand.key}", frac * epochs, m["loss"])

    train_classifier(model, data[0], data[1], resolution=cand.resolution, epochs=epochs,
                     batch_size=config.batch_size, lr=config.lr, optimizer=config.optimizer, seed=config.seed,
                     progress=progress)
    return {"accuracy": last["val_acc"], "train_loss": last["loss"], "val_loss": last["val_loss"],
            "train_epochs": epochs, "train_samples": len(data[0].y), "val_samples": len(data[1].y)}


def _summary(results: list[tuple[Candidate, dict[str, Any]]], skipped: list[tuple[str, float]],
             hardware: HardwareProfile, training: bool) -> Summary:
    fastest = min(results, key=lambda r: r[1]["latency_ms"])
    out: dict[str, Any] = {"networks": len(results), "skipped": len(skipped),
                           "fastest": fastest[0].key, "fastest_latency_ms": fastest[1]["latency_ms"]}
    msg = (f"Benchmarked {len(results)} network{'' if len(results) == 1 else 's'}; "
           f"fastest {fastest[0].key} at {fastest[1]['latency_ms']:.2f} ms")
    if training:
        best = max(results, key=lambda r: r[1]["accuracy"] if math.isfinite(r[1]["accuracy"]) else -1.0)
        out.update(best_accuracy=best[1]["accuracy"], most_accurate=best[0].key)
        msg += f"; most accurate {best[0].key} at {best[1]['accuracy']:.3f}"
    if skipped:
        out["skipped_combinations"] = ", ".join(f"{m}@{w:g}" for m, w in skipped)
        msg += f"; skipped {len(skipped)} model/width pair{'' if len(skipped) == 1 else 's'} the families lack"
    sources = sorted({str(m.get("latency_source")) for _, m in results})
    out["latency_source"] = ", ".join(sources)
    msg += f" (latency on {hardware.name}: {' / '.join(sources)})"
    return Summary(message=msg, metrics=out)
