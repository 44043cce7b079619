"""The ``dlg-defences`` technique: attack the same images behind each defence
at each strength, and measure what each defence costs in accuracy.

Utility vs privacy: every (defence, strength) is a candidate with the
reconstruction quality the attack reached (mse, psnr, ssim: lower psnr is more
private) and the test accuracy of the victim after a short training run with
that defence applied to its gradients (:func:`engine.dlg.victims.train_victim`).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import param
from ..reporter import Reporter, Summary
from .attacks import DEFAULT_STEPS, shared_gradients
from .defences import DEFENCES, apply_defence, defence_detail, gradient_mean_square
from .metrics import leak_criterion
from .images import AttackImages
from .render import compose, labelled_row, pair_image, save_png
from .technique import CommonConfig, check_defence, traced_attack
from .victims import build_victim, train_victim, victim_training_data

__all__ = ["SweepConfig", "run", "stopping_strength", "accuracy_cost"]


@dataclass(frozen=True)
class SweepConfig(CommonConfig):
    steps: int = param(200, min=0, max=20000, help="Optimiser steps of each attack; 0: the method's default "
                                                   "(300 L-BFGS steps for dlg/idlg, 2000 Adam steps for ig)")
    defences: tuple[str, ...] = param(tuple(DEFENCES), choices=tuple(DEFENCES),
                                      help="Defences to sweep")
    prune_levels: tuple[float, ...] = param(DEFENCES["prune"].levels, min=0.0, max=0.999, max_items=12,
                                            help="Fractions of smallest-magnitude gradient entries set to zero")
    noise_levels: tuple[float, ...] = param(DEFENCES["gaussian"].levels, min=0.0, max=10.0, max_items=12,
                                            help="Variances of the Gaussian and Laplacian noise added")
    quantize_bits: tuple[int, ...] = param(DEFENCES["quantize"].levels, choices=(16, 8, 7, 6, 5, 4, 3, 2),
                                           help="Bits of the shared gradient: 16 = fp16, 8 = int8 …")
    batch_levels: tuple[int, ...] = param(DEFENCES["batch"].levels, min=1, max=8,
                                          help="Batch sizes behind one shared gradient")
    accuracy: bool = param(True, help="Measure each defence's accuracy cost with a short training run")
    acc_epochs: int = param(3, min=1, max=20, help="Epochs of each accuracy run (mnist-5k)", advanced=True)
    acc_train_images: int = param(4000, min=100, max=4000, help="Training digits of each accuracy run",
                                  advanced=True)
    acc_lr: float = param(0.05, min=1e-4, max=1.0, help="SGD learning rate of the accuracy runs", advanced=True)

    def check(self) -> dict[str, str]:
        errors = super().check()
        if self.accuracy and self.num_classes < 10:
            errors["num_classes"] = "the accuracy runs train on MNIST digits: at least 10 classes"
        if "batch" in self.defences and self.method != "dlg" and max(self.batch_levels) > self.num_classes:
            errors["batch_levels"] = "label inference needs batches no larger than the number of classes"
        return errors

    def levels(self, defence: str) -> list[float]:
        vals = {"prune": self.prune_levels, "gaussian": self.noise_levels, "laplacian": self.noise_levels,
                "quantize": self.quantize_bits, "batch": self.batch_levels}[defence]
        return sorted(vals, reverse=not DEFENCES[defence].stronger_is_larger)  # weakest first


def stopping_strength(defence: str, results: list[tuple[float, bool]]) -> float | None:
    """The weakest tested strength from which on (it and every stronger one)
    nothing leaked; ``results`` are (strength, leaked) pairs. None if the
    strongest still leaks."""
    larger = DEFENCES[defence].stronger_is_larger
    ordered = sorted(results, key=lambda r: r[0], reverse=not larger)  # weakest first
    best = None
    for strength, leaked in reversed(ordered):
        if leaked:
            break
        best = strength
    return best


def accuracy_cost(config: SweepConfig, defence: str, strength: float, channels: int, data, progress=None) -> float:
    """Test accuracy after a short run of the victim trained with the defence
    on its gradients (for ``batch``: trained with that batch size)."""
    c = config
    model = build_victim(c.model, in_channels=channels, num_classes=c.num_classes, image_size=c.image_size,
                         generator=torch.Generator().manual_seed(c.seed))
    train, val = data
    batch = int(strength) if defence == "batch" else 32
    try:
        acc = train_victim(model, train, val, epochs=c.acc_epochs, batch_size=batch, lr=c.acc_lr, seed=c.seed,
                           defence=defence, strength=strength, progress=progress)
    except FloatingPointError:
        acc = None  # training diverged under this defence
    return float(acc) if acc is not None else float("nan")


def run(config: SweepConfig, hardware: Any, reporter: Reporter) -> Summary:
    c = config
    reporter.progress(0.0, "loading images")
    images, model, victim_acc = c.load(reporter, batch_size=max([c.batch_size] + (
        list(c.batch_levels) if "batch" in c.defences else [])), span=(0.01, 0.05))
    plan: list[tuple[str, float]] = [("none", 0.0)]
    for d in c.defences:
        for s in c.levels(d):
            msg = check_defence(d, s)
            if msg:
                raise ValueError(f"{d} {s}: {msg}")
            plan.append((d, float(s)))
    data = None
    if c.accuracy:
        reporter.progress(0.05, "loading mnist-5k for the accuracy runs")
        data = victim_training_data(channels=images.channels, image_size=c.image_size, num_classes=c.num_classes,
                                    train_images=c.acc_train_images, seed=c.seed)
    settings = c.settings()
    steps = c.steps or DEFAULT_STEPS[c.method]
    results: dict[str, list[tuple[float, bool]]] = {}
    recons: dict[str, list[tuple[str, torch.Tensor]]] = {}
    records: list[dict[str, Any]] = []
    last = [0.0]
    span = 0.9 / len(plan)
    for k, (d, s) in enumerate(plan):
        base = 0.08 + span * k
        label = defence_detail(d, s)
        n = int(s) if d == "batch" else c.batch_size
        batch = AttackImages(images.x[:n], images.y[:n], images.names[:n], images.source)

        def on_step(it: int, loss: float, batch_mse: float, base=base, label=label) -> None:
            now = time.perf_counter()
            if now - last[0] > 0.5:
                last[0] = now
                reporter.progress(base + 0.8 * span * it / steps,
                                  f"{label}: step {it}/{steps}, gradient loss {loss:.3g}, MSE {batch_mse:.3g}")

        reporter.progress(base, f"{label}: attacking")
        target = shared_gradients(model, batch.x, batch.y)
        clean_ms = gradient_mean_square(target)
        target = apply_defence(d, target, s, generator=torch.Generator().manual_seed(c.seed + 2))
        trace = traced_attack(c.method, model, batch, target, num_classes=c.num_classes, settings=settings,
                              seed=c.seed, leak_psnr=c.leak_psnr, leak_ssim=c.leak_ssim, max_frames=1,
                              on_step=on_step)
        per = trace.per_image
        metrics: dict[str, Any] = {
            "mse": float(np.mean([m["mse"] for m in per])),
            "psnr": float(np.mean([m["psnr"] for m in per])),
            "ssim": float(np.mean([m["ssim"] for m in per])),
            "mse_best": float(min(m["mse"] for m in per)),
            "leaked": any(m["leaked"] for m in per),
            "leaked_fraction": sum(m["leaked"] for m in per) / len(per),
            "stalled": trace.result.stalled,
            "fallback_steps": trace.result.fallback_steps,
            "label_accuracy": sum(m["label_correct"] for m in per) / len(per),
            "iterations": trace.result.iterations,
            "wall_s": trace.result.wall_s,
            "batch_size": n,
            "gradient_mean_square": clean_ms,
        }
        if d in ("gaussian", "laplacian"):
            # the variance is absolute; relative to the gradient's mean square it is the noise-to-signal power
            metrics["noise_variance_relative"] = s / clean_ms if clean_ms > 0 else float("nan")
        if data is not None:
            reporter.progress(base + 0.8 * span, f"{label}: accuracy run")
            t0 = time.perf_counter()
            metrics["accuracy"] = accuracy_cost(
                c, d, s, images.channels, data,
                progress=lambda f, m, _x, base=base: reporter.progress(base + span * (0.8 + 0.2 * f), m))
            metrics["accuracy_wall_s"] = time.perf_counter() - t0
        idx = reporter.candidate({"defence": d, "strength": s, "detail": label}, metrics)
        rec0 = trace.result.images[trace.perm][0]
        path = save_png(pair_image(batch.x[0], rec0, tile=96), reporter.workdir / f"level_{k:02d}.png")
        reporter.artifact("png", path, f"{label}: original | reconstruction (PSNR {metrics['psnr']:.1f} dB)",
                          group="reconstructions", candidate=idx)
        if d != "none":
            for key in ("psnr", "ssim", "mse", "accuracy"):
                if key in metrics:
                    reporter.series(f"{d}/{key}", s, metrics[key])
            results.setdefault(d, []).append((s, metrics["leaked"]))
        recons.setdefault(d, []).append((label, rec0))
        records.append({"defence": d, "strength": s, "detail": label, **metrics,
                        "images": [dict(m, name=batch.names[i]) for i, m in enumerate(per)]})
    reporter.progress(0.98, "writing pictures")
    first = images.x[0]
    none_recon = recons.get("none", [])
    for d in c.defences:
        row = labelled_row([first] + [r for _, r in none_recon + recons[d]],
                           ["original"] + [t for t, _ in none_recon + recons[d]])
        path = save_png(compose([row]), reporter.workdir / f"defence_{d}.png")
        reporter.artifact("png", path, f"{DEFENCES[d].title}: {images.names[0]} rebuilt at each strength "
                                       f"(weakest first)", group="defences")
    stops = {d: stopping_strength(d, results[d]) for d in c.defences}
    summary: dict[str, Any] = {f"{d}_stops_at": v for d, v in stops.items()}
    baseline = records[0]
    for d, v in stops.items():
        if d in ("gaussian", "laplacian") and v is not None:
            summary[f"{d}_stops_at_relative"] = v / baseline["gradient_mean_square"]
    summary.update(baseline_psnr=baseline["psnr"], baseline_mse=baseline["mse"], leak_psnr=c.leak_psnr,
                   leak_ssim=c.leak_ssim, gradient_mean_square=baseline["gradient_mean_square"])
    if "accuracy" in baseline:
        summary["baseline_accuracy"] = baseline["accuracy"]
    if victim_acc is not None:
        summary["victim_accuracy"] = victim_acc
    path = reporter.workdir / "sweep.json"
    path.write_text(json.dumps(_json_safe({"config": c.to_dict(), "results": records, "summary": summary}),
                               indent=1))
    reporter.artifact("json", path, "every defence level's metrics", group="metrics")
    reporter.progress(1.0, "done")
    summary["baseline_leaked"] = bool(baseline["leaked"])
    if not baseline["leaked"]:
        return Summary(f"The attack did not leak even without a defence (PSNR {baseline['psnr']:.1f} dB, SSIM "
                       f"{baseline['ssim']:.3f}); try more steps, restarts, another seed or idlg; "
                       f"{leak_criterion(c.leak_psnr, c.leak_ssim)}", summary)

    def stop_text(d: str, v: float | None) -> str:
        if v is None:
            return f"{DEFENCES[d].title.lower()}: never (up to the strongest tested)"
        rel = summary.get(f"{d}_stops_at_relative")
        return f"{DEFENCES[d].title.lower()} from {defence_detail(d, v)}" + (
            f" ({rel:.2g}x the gradient's mean square)" if rel is not None else "")

    return Summary("Leak stopped by " + "; ".join(stop_text(d, v) for d, v in stops.items())
                   + f"; {leak_criterion(c.leak_psnr, c.leak_ssim)}", summary)


def _json_safe(obj: Any) -> Any:
    """NaN/inf become None so the file is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj
