"""Pieces the NAS techniques share: the search latency source, and finishing
a chosen architecture (fine-tune, real accuracy, measured latency, ONNX and
TorchScript export)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cache import cache_dir
from ..hardware import (HardwareProfile, LookupTable, LookupTableLatency, PredictorLatency, RooflineLatency, build_lut,
                        validate_lut_json, validate_predictor_json)
from ..hardware.cost import profile_model
from ..hardware.latency import LatencyEstimator
from ..hardware.measure import measure_many
from ..reporter import Reporter
from ..spaces.mbconv import MBConvSpace
from ..supernet.data import NasData
from ..supernet.training import subnet_accuracy
from ..train import classification_step, fit, make_optimizer

__all__ = ["LATENCY_SOURCES", "search_latency", "Finalist", "finish_candidates", "export_model", "arch_summary"]

LATENCY_SOURCES = ("auto", "lut", "roofline")


def _lut_path(profile: HardwareProfile, space: MBConvSpace, num_classes: int, in_channels: int) -> Path:
    sig = json.dumps([space.params(), num_classes, in_channels], sort_keys=True)
    h = hashlib.sha1(sig.encode()).hexdigest()[:12]
    return cache_dir("luts", f"{profile.name}-{h}.json")


def search_latency(profile: HardwareProfile, space: MBConvSpace, *, num_classes: int, in_channels: int,
                   source: str = "auto", reporter: Reporter | None = None, repeats: int = 10
                   ) -> LatencyEstimator:
    """The latency source a search scores thousands of candidates with.

    A lookup table is the best source a search can afford: one measured on
    the device and attached to the profile comes first; on a profile that
    can be measured (this machine) every op of the space is timed once and the
    table kept in ``$FRONTIER_CACHE_DIR/luts``; a table already there for the
    profile is reused (also one placed there from a device agent). Then the
    profile's trained latency predictor; otherwise the roofline estimate from
    the profile's figures (labelled so).
    """
    if source not in LATENCY_SOURCES:
        raise ValueError(f"latency source must be one of {LATENCY_SOURCES}")
    path = _lut_path(profile, space, num_classes, in_channels)
    if source in ("auto", "lut"):
        table = None
        if profile.lookup_table is not None:  # measured on the device and attached to the profile
            attached = validate_lut_json(profile.lookup_table)
            if attached.covers(space):
                table = attached
        if table is None and path.is_file():
            table = LookupTable.load(path)
        elif profile.measurable:
            def tick(done: int, total: int) -> None:
                if reporter is not None and done % 20 == 0:
                    reporter.progress(0.0, f"measuring the latency lookup table: {done}/{total} ops")
            table = build_lut(space, threads=1, warmup=2, repeats=repeats, num_classes=num_classes,
                              in_channels=in_channels, profile=profile.name, progress=tick)
            path.parent.mkdir(parents=True, exist_ok=True)
            table.save(path)
        if table is not None and table.covers(space):
            return LookupTableLatency(table, space, profile)
        if source == "auto" and profile.latency_predictor is not None:
            predictor = validate_predictor_json(profile.latency_predictor)
            if predictor.matches(space):
                return PredictorLatency(predictor, space, profile)
        if source == "lut":
            raise ValueError(f"no lookup table for profile {profile.name!r} (it cannot be measured here); "
                             "use latency source 'roofline' or attach a table from the device agent")
    return RooflineLatency(profile, space, num_classes=num_classes, in_channels=in_channels)


def arch_summary(space: MBConvSpace, arch: dict[str, Any]) -> dict[str, Any]:
    """The architecture with per-block details for drawing it block by block."""
    blocks = []
    for i, d in enumerate(arch["depths"]):
        for j in range(d):
            s = i * space.max_depth + j
            blocks.append({"stage": i + 1, "kernel": arch["kernels"][s], "expand": arch["expands"][s],
                           "width": space.widths[i], "stride": space.strides[i] if j == 0 else 1})
    return {**arch, "blocks": blocks, "space": "mbconv"}


def export_model(model: nn.Module, input_shape: tuple[int, ...], folder: Path, stem: str) -> tuple[Path, Path]:
    """ONNX (legacy exporter, no onnxscript needed) and TorchScript files."""
    model = model.eval()
    x = torch.randn(input_shape)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / f"{stem}.onnx"
    torch.onnx.export(model, (x,), str(onnx_path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    ts_path = folder / f"{stem}.pt"
    torch.jit.trace(model, x).save(str(ts_path))
    return onnx_path, ts_path


@dataclass
class Finalist:
    """A chosen architecture on its way to becoming a reported candidate."""
    model: nn.Module
    arch: dict[str, Any]
    label: str
    extra: dict[str, Any] = field(default_factory=dict)


def finish_candidates(finalists: list[Finalist], space: MBConvSpace, data: NasData, *, profile: HardwareProfile,
                      estimator: LatencyEstimator, reporter: Reporter, epochs: int, lr: float, seed: int,
                      progress: Any = None, measure_rounds: int = 5, measure_repeats: int = 25) -> list[dict[str, Any]]:
    """Fine-tune each finalist (inherited weights) on the train split and take
    its test accuracy; where the profile is this machine, measure all of them
    together, interleaved over ``measure_rounds`` passes (a burst of load from
    elsewhere then spreads over every finalist instead of spoiling one), beside
    the predicted latency; then report each as a candidate with ONNX and
    TorchScript files. Returns each candidate's metrics."""
    rows = []
    for n, f in enumerate(finalists):
        r = int(f.arch["resolution"])
        torch.manual_seed(seed)
        if epochs > 0:
            g = torch.Generator().manual_seed(seed)
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.images("train", r),
                                                                                data.y["train"]),
                                                 batch_size=64, shuffle=True, generator=g, drop_last=True)
            f.model.to(memory_format=torch.channels_last)  # depthwise convolutions run 3-5x faster so on CPU
            opt = make_optimizer(f.model.parameters(), name="sgd", lr=lr, weight_decay=3e-5)
            try:
                fit(f.model, classification_step, loader, epochs=epochs, optimizer=opt,
                    progress=progress(n) if progress is not None else None)
            finally:
                f.model.to(memory_format=torch.contiguous_format)
        acc = subnet_accuracy(f.model, data, split="test", resolution=r)
        shape = space.input_shape(f.arch, data.in_channels)
        cost = profile_model(f.model, shape)
        pred = estimator.estimate_arch(f.arch)
        rows.append((shape, {"accuracy": acc, "accuracy_source": "fine-tuned" if epochs else "inherited",
                             "predicted_latency_ms": pred.ms, "predicted_latency_source": pred.source,
                             "params": cost.params, "macs": cost.macs,
                             "peak_memory_bytes": cost.peak_activation_bytes, "finetune_epochs": epochs}))
    if profile.measurable and finalists:
        measured = measure_many([(f.model, shape) for f, (shape, _) in zip(finalists, rows)], warmup=3,
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
    for f, (shape, metrics) in zip(finalists, rows):
        metrics.update(f.extra)
        idx = reporter.candidate(arch_summary(space, f.arch), metrics)
        onnx_path, ts_path = export_model(f.model, shape, reporter.workdir, f.label)
        reporter.artifact("onnx", onnx_path, f"{f.label}: ONNX", group="models", candidate=idx)
        reporter.artifact("pt", ts_path, f"{f.label}: TorchScript", group="models", candidate=idx)
        out.append(metrics)
    return out


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
