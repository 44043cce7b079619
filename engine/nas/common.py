"""Pieces the NAS techniques share: where a search's latency tables are kept
and how their measurement is reported (for the engine's one entry point,
:func:`engine.hardware.latency.latency_for`), and finishing a chosen architecture (fine-tune, real accuracy,
measured latency, ONNX and TorchScript export)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..cache import cache_dir
from ..hardware import HardwareProfile
from ..hardware.cost import profile_model
from ..hardware.latency import LatencyEstimator
from ..hardware.measure import measure_many
from ..networks import export_model, keep_network
from ..problems import Problem
from ..reporter import Reporter
from ..spaces.mbconv import MBConvSpace
from ..supernet.data import NasData
from ..supernet.training import subnet_accuracy
from ..training import train_model

__all__ = ["lut_progress", "lut_cache_dir", "Finalist", "finish_candidates"]


def lut_progress(reporter: Reporter) -> Callable[[int, int], None]:
    """``progress`` for :func:`engine.hardware.latency.latency_for` while a
    search's lookup table is measured (every 20 ops)."""
    def tick(done: int, total: int) -> None:
        if done % 20 == 0:
            reporter.progress(0.0, f"measuring the latency lookup table: {done}/{total} ops")
    return tick


def lut_cache_dir() -> Path:
    """Where tables measured for searches are kept (``$FRONTIER_CACHE_DIR/luts``)."""
    return cache_dir("luts")


@dataclass
class Finalist:
    """A chosen architecture on its way to becoming a reported candidate."""
    model: nn.Module
    arch: dict[str, Any]
    label: str
    extra: dict[str, Any] = field(default_factory=dict)


def finish_candidates(finalists: list[Finalist], space: MBConvSpace, problem: Problem, data: NasData, *,
                      profile: HardwareProfile,
                      estimator: LatencyEstimator, reporter: Reporter, epochs: int, lr: float, seed: int,
                      progress: Any = None, measure_rounds: int = 5, measure_repeats: int = 25,
                      technique: str = "") -> list[dict[str, Any]]:
    """Fine-tune each finalist (inherited weights) on the train split and take
    its test accuracy; where the profile is this machine, measure all of them
    together, interleaved over ``measure_rounds`` passes (a burst of load from
    elsewhere then spreads over every finalist instead of spoiling one), beside
    the predicted latency; then report each as a candidate with ONNX and
    TorchScript files, and keep it as a network (:mod:`engine.networks`).
    Returns each candidate's metrics."""
    rows = []
    for n, f in enumerate(finalists):
        r = int(f.arch["resolution"])
        if epochs > 0:
            train_model(f.model, torch.utils.data.TensorDataset(data.images("train", r), data.y["train"]),
                        epochs=epochs, batch_size=64, lr=lr, optimizer="sgd", weight_decay=3e-5, seed=seed,
                        drop_last=True, channels_last=True, progress=progress(n) if progress is not None else None)
        acc = subnet_accuracy(f.model, data, split="test", resolution=r)
        inputs = space.example_inputs(f.arch, problem)
        cost = profile_model(f.model, inputs)
        pred = estimator.estimate_arch(f.arch)
        rows.append((inputs, {"accuracy": acc, "accuracy_source": "fine-tuned" if epochs else "inherited",
                             "predicted_latency_ms": pred.ms, "predicted_latency_source": pred.source,
                             "params": cost.params, "macs": cost.macs,
                             "peak_memory_bytes": cost.peak_activation_bytes, "finetune_epochs": epochs}))
    if profile.measurable and finalists:
        measured = measure_many([(f.model, inputs) for f, (inputs, _) in zip(finalists, rows)], warmup=3,
                                repeats=measure_repeats, rounds=measure_rounds, threads=1)
        for (_, metrics), m in zip(rows, measured):
            pred_ms = metrics["predicted_latency_ms"]
            metrics.update(latency_ms=m.median_ms, latency_source="measured", measured_latency_ms=m.median_ms,
                           latency_spread_ms=m.spread_ms,
                           latency_error=(pred_ms - m.median_ms) / m.median_ms if m.median_ms > 0 else None)
    else:
        for _, metrics in rows:
            metrics.update(latency_ms=metrics["predicted_latency_ms"],
                           latency_source=metrics["predicted_latency_source"])
    out = []
    searched = [n for n, f in enumerate(finalists) if not f.label.startswith("random")]
    for n, (f, (inputs, metrics)) in enumerate(zip(finalists, rows)):
        metrics.update(f.extra)
        idx = reporter.candidate(space.structure(f.arch), metrics)
        net_problem = dataclasses.replace(problem, size=int(f.arch["resolution"]))
        onnx_path, ts_path = export_model(f.model, inputs, reporter.workdir, f.label, net_problem)
        reporter.artifact("onnx", onnx_path, f"{f.label}: ONNX", group="models", candidate=idx)
        reporter.artifact("pt", ts_path, f"{f.label}: TorchScript", group="models", candidate=idx)
        how = (f"fine-tuned {epochs} epoch{'s' if epochs != 1 else ''} from the super-net's weights" if epochs
               else "the super-net's weights, not fine-tuned")
        keep_network(reporter, f.model, name=f.label, spec={"builder": "space", "args": {
            "space": space.name, "params": space.params(), "arch": f.arch}}, problem=net_problem, dataset=data.name,
            metrics=metrics, made_by=f"{technique or 'NAS'} {f.label}: {how} on {data.name}", technique=technique,
            candidate=idx, preprocess=data.preprocess(), primary=bool(searched) and n == searched[0])
        out.append(metrics)
    return out


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
