"""The ``dlg`` technique: rebuild a batch of images from its shared gradient
and show how the reconstruction evolves."""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import ConfigBase, param
from ..reporter import Reporter, Summary
from .attacks import DEFAULT_STEPS, INITS, METHODS, AttackResult, AttackSettings, run_attack, shared_gradients
from .defences import GRADIENT_DEFENCES, apply_defence, defence_detail, gradient_mean_square
from .images import IMAGE_SOURCES, AttackImages, check_image_name, load_attack_images
from .metrics import LEAK_PSNR_DB, LEAK_SSIM, image_metrics, is_leaked, leak_criterion, match_reconstructions, mse
from .render import batch_frame, pair_image, save_png, write_mp4
from .victims import VICTIMS, make_victim

__all__ = ["CommonConfig", "AttackConfig", "run", "AttackTrace", "traced_attack", "check_defence"]

_INIT = ("random", "trained")


def check_defence(defence: str, strength: float) -> str | None:
    """A message when ``strength`` is meaningless for ``defence``."""
    if defence == "prune" and not 0 <= strength <= 0.999:
        return "a prune fraction is between 0 and 0.999"
    if defence in ("gaussian", "laplacian") and not 0 <= strength <= 10:
        return "a noise variance is between 0 and 10"
    if defence == "quantize" and (strength != int(strength) or int(strength) not in (16, 8, 7, 6, 5, 4, 3, 2)):
        return "quantize takes bits: 16 (fp16) or 2 to 8 (integer)"
    if defence == "batch" and (strength != int(strength) or not 1 <= strength <= 8):
        return "a batch size is between 1 and 8"
    return None


@dataclass(frozen=True)
class CommonConfig(ConfigBase):
    """Settings shared by the attack and the defence sweep."""

    method: str = param("dlg", choices=METHODS,
                        help="dlg: dummy images and labels by L-BFGS (Zhu et al.); idlg: label from the last "
                             "layer's gradient sign, then the image; ig: cosine distance + total variation, "
                             "Adam (Geiping et al.) for deeper nets")
    model: str = param("lenet", choices=VICTIMS,
                       help="Victim: the DLG paper's sigmoid LeNet or a small ResNet-8")
    init: str = param("random", choices=_INIT, help="Victim weights: freshly initialised, or briefly trained "
                                                    "on mnist-5k first")
    train_epochs: int = param(2, min=1, max=20, help="Training epochs when init is 'trained'", advanced=True)
    dataset: str = param("photos", choices=IMAGE_SOURCES,
                         help="Where the private images come from (photos: skimage/scikit-learn photographs)")
    image_file: str = param("", max_length=500, file="image",
                            help="Path of a PNG or JPEG to attack (first image of the batch); empty: the dataset")
    image_index: int = param(0, min=0, max=999, help="First dataset image of the batch")
    batch_size: int = param(1, min=1, max=8, help="Images behind the one shared gradient")
    image_size: int = param(32, choices=(16, 32), help="Image side in pixels")
    num_classes: int = param(10, min=2, max=1000, help="Outputs of the victim's classifier")
    steps: int = param(0, min=0, max=20000, help="Optimiser steps; 0: the method's default "
                                                 "(300 L-BFGS steps for dlg/idlg, 2000 Adam steps for ig)")
    line_search: str = param("strong_wolfe", choices=("strong_wolfe", "none"), advanced=True,
                             help="L-BFGS line search; none: full steps, as the DLG reference code")
    dummy_init: str = param("uniform", choices=INITS, advanced=True,
                            help="Dummy images start as U(0, 1) noise (converges on batches of photos) or N(0, 1) "
                                 "(the DLG reference code)")
    lbfgs_lr: float = param(1.0, min=1e-4, max=10.0, help="L-BFGS learning rate", advanced=True)
    lbfgs_inner: int = param(20, min=1, max=100, help="L-BFGS iterations per step", advanced=True)
    history_size: int = param(100, min=1, max=500, help="L-BFGS history size", advanced=True)
    adam_lr: float = param(0.1, min=1e-4, max=1.0, help="Adam step size (ig)", advanced=True)
    tv_weight: float = param(0.05, min=0.0, max=1.0, help="Total-variation weight (ig)")
    leak_psnr: float = param(LEAK_PSNR_DB, min=10.0, max=100.0,
                             help="Leaked: an image whose reconstruction (matched to its original by the Hungarian "
                                  "assignment on MSE) has PSNR at least this (dB) and SSIM at least leak_ssim; "
                                  "PSNR alone passes pictures where only the background is right")
    leak_ssim: float = param(LEAK_SSIM, min=0.0, max=1.0,
                             help="Leaked: SSIM at least this, together with PSNR at least leak_psnr, per image")
    restarts: int = param(1, min=1, max=20, help="Independent dummy starts; the one whose gradient matches best "
                                                 "is kept (the attacker sees only the gradient)")
    lbfgs_tv: float = param(0.0, min=0.0, max=1.0, advanced=True,
                            help="Total-variation weight added to the L-BFGS objective (dlg/idlg)")
    stall_steps: int = param(25, min=0, max=1000, advanced=True,
                             help="The optimiser has stalled when its best gradient distance gains less than 0.01 % "
                                  "over this many steps (or turns NaN); its idle steps are not counted; 0: never")
    fallback: str = param("adam", choices=("adam", "none"), advanced=True,
                          help="When L-BFGS stalls: continue from the best images with Adam for the remaining "
                               "evaluations, or stop")
    fallback_lr: float = param(1e-3, min=1e-5, max=1.0, advanced=True, help="Adam step size of the fallback")
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the victim's weights, the dummy data and the noise")

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.image_file:
            msg = check_image_name(self.image_file)
            if msg:
                errors["image_file"] = msg
        if (self.dataset == "mnist-5k" or self.init == "trained") and self.num_classes < 10:
            errors["num_classes"] = "MNIST digits need at least 10 classes"
        if self.method != "dlg" and self.batch_size > self.num_classes:
            errors["batch_size"] = "label inference needs a batch no larger than the number of classes"
        return errors

    def settings(self) -> AttackSettings:
        return AttackSettings(steps=self.steps, lbfgs_lr=self.lbfgs_lr, history_size=self.history_size,
                              max_iter=self.lbfgs_inner, adam_lr=self.adam_lr, tv_weight=self.tv_weight,
                              line_search=None if self.line_search == "none" else self.line_search,
                              init=self.dummy_init, restarts=self.restarts, lbfgs_tv=self.lbfgs_tv,
                              stall_steps=self.stall_steps, fallback=self.fallback, fallback_lr=self.fallback_lr)

    def load(self, reporter: Reporter, batch_size: int | None = None,
             span: tuple[float, float] = (0.02, 0.1)) -> tuple[AttackImages, torch.nn.Module, float | None]:
        """The batch to attack and the victim (trained first when asked)."""
        images = load_attack_images(source=self.dataset, batch_size=batch_size or self.batch_size,
                                    index=self.image_index, size=self.image_size, num_classes=self.num_classes,
                                    image_file=self.image_file)

        def train_progress(frac: float, msg: str, _m: dict) -> None:
            reporter.progress(span[0] + (span[1] - span[0]) * frac, "training the victim: " + msg)

        model, acc = make_victim(self.model, in_channels=images.channels, num_classes=self.num_classes,
                                 image_size=self.image_size, seed=self.seed,
                                 trained_epochs=self.train_epochs if self.init == "trained" else 0,
                                 progress=train_progress)
        return images, model, acc


@dataclass(frozen=True)
class AttackConfig(CommonConfig):
    defence: str = param("none", choices=("none",) + GRADIENT_DEFENCES,
                         help="Defence applied to the shared gradient before the attack sees it")
    defence_strength: float = param(0.0, min=0.0, max=16.0,
                                    help="prune: fraction; gaussian/laplacian: variance; quantize: bits (16 = fp16)")
    snapshots: int = param(24, min=2, max=60, help="Snapshots of the reconstruction kept as PNGs")
    video: bool = param(True, help="Encode an mp4 of the reconstruction evolving")

    def check(self) -> dict[str, str]:
        errors = super().check()
        if self.defence != "none":
            msg = check_defence(self.defence, self.defence_strength)
            if msg:
                errors["defence_strength"] = msg
        return errors


@dataclass
class AttackTrace:
    """An attack's result with what was recorded along the way."""

    result: AttackResult
    perm: list[int]
    per_image: list[dict[str, Any]]
    frames: list[tuple[int, torch.Tensor]]
    mse_curve: list[tuple[int, float]]


def traced_attack(method: str, model: torch.nn.Module, images: AttackImages, target: list[torch.Tensor], *,
                  num_classes: int, settings: AttackSettings, seed: int, leak_psnr: float = LEAK_PSNR_DB,
                  leak_ssim: float = LEAK_SSIM, max_frames: int = 300, on_step=None) -> AttackTrace:
    """Run one attack and record, per step, the batch's MSE (after matching)
    and up to ``max_frames`` frames; ``on_step(it, loss, mse)`` may raise Cancelled.
    Each image is ``leaked`` by :func:`engine.dlg.metrics.is_leaked` (PSNR and SSIM)."""
    steps = settings.steps or DEFAULT_STEPS[method]
    every = max(1, math.ceil(steps / max_frames))
    frames: list[tuple[int, torch.Tensor]] = []
    curve: list[tuple[int, float]] = []
    first_leak: list[int | None] = [None] * images.x.shape[0]

    def callback(it: int, loss: float, cur: torch.Tensor) -> bool:
        perm = match_reconstructions(cur, images.x)
        errs = mse(cur[perm], images.x)
        if any(f is None for f in first_leak) and float(errs.min()) < 10 ** (-leak_psnr / 10):
            for i, m in enumerate(image_metrics(cur[perm], images.x)):
                if first_leak[i] is None and is_leaked(m, min_psnr=leak_psnr, min_ssim=leak_ssim):
                    first_leak[i] = it
        curve.append((it, float(errs.mean())))
        if it % every == 0 or it == steps:
            frames.append((it, cur[perm].clone()))
        if on_step is not None:
            on_step(it, loss, float(errs.mean()))
        return False

    res = run_attack(method, model, target, shape=tuple(images.x.shape), num_classes=num_classes,
                     generator=torch.Generator().manual_seed(seed + 1), settings=settings, callback=callback)
    if not frames or frames[-1][0] != res.iterations:
        frames.append((res.iterations, res.images[match_reconstructions(res.images, images.x)].clone()))
    perm = match_reconstructions(res.images, images.x)
    per_image = image_metrics(res.images[perm], images.x)
    for i, m in enumerate(per_image):
        pred = int(res.labels[perm[i]]) if perm[i] < len(res.labels) else -1
        m.update(true_label=int(images.y[i]), predicted_label=pred, label_correct=pred == int(images.y[i]),
                 leaked=is_leaked(m, min_psnr=leak_psnr, min_ssim=leak_ssim), iterations_to_leak=first_leak[i])
    return AttackTrace(res, perm, per_image, frames, curve)


def run(config: AttackConfig, hardware: Any, reporter: Reporter) -> Summary:
    c = config
    torch_threads = torch.get_num_threads()
    reporter.progress(0.0, "loading images")
    images, model, victim_acc = c.load(reporter)
    target = shared_gradients(model, images.x, images.y)
    clean_ms = gradient_mean_square(target)
    if c.defence != "none":
        target = apply_defence(c.defence, target, c.defence_strength,
                               generator=torch.Generator().manual_seed(c.seed + 2))
    settings = c.settings()
    steps = c.steps or DEFAULT_STEPS[c.method]
    series_every = max(1, steps // 500)
    last = [0.0]

    def on_step(it: int, loss: float, batch_mse: float) -> None:
        if it % series_every == 0 or it == steps:
            reporter.series("gradient_loss", it, loss)
            reporter.series("mse", it, batch_mse)
        now = time.perf_counter()
        if now - last[0] > 0.5:
            last[0] = now
            reporter.progress(0.1 + 0.8 * it / steps,
                              f"{c.method} step {it}/{steps}: gradient loss {loss:.3g}, MSE {batch_mse:.3g}")

    reporter.progress(0.1, f"attacking with {c.method}")
    trace = traced_attack(c.method, model, images, target, num_classes=c.num_classes, settings=settings,
                          seed=c.seed, leak_psnr=c.leak_psnr, leak_ssim=c.leak_ssim, on_step=on_step)
    res = trace.result
    arch_base = {"method": c.method, "model": c.model, "init": c.init, "batch_size": c.batch_size,
                 "defence": defence_detail(c.defence, c.defence_strength)}
    recon = res.images[trace.perm]
    reporter.progress(0.92, "writing pictures")
    for i, m in enumerate(trace.per_image):
        metrics = dict(m, iterations=res.iterations, evaluations=res.evaluations, wall_s=res.wall_s,
                       diverged=res.diverged, stalled=res.stalled, fallback_steps=res.fallback_steps)
        idx = reporter.candidate(dict(arch_base, image=images.names[i], index=i), metrics)
        path = save_png(pair_image(images.x[i], recon[i]), reporter.workdir / f"reconstruction_{i}.png")
        reporter.artifact("png", path, f"{images.names[i]}: original | reconstruction "
                                       f"(PSNR {m['psnr']:.1f} dB, SSIM {m['ssim']:.3f})", group="reconstructions",
                          candidate=idx)
    picks = np.unique(np.linspace(0, len(trace.frames) - 1, min(c.snapshots, len(trace.frames))).round()
                      .astype(int))
    for j in picks:
        it, frame = trace.frames[j]
        path = save_png(batch_frame(images.x, frame, multiple=1), reporter.workdir / f"snapshot_{it:05d}.png")
        reporter.artifact("png", path, f"iteration {it}", group="snapshots")
    if c.video and trace.frames:
        frames = [batch_frame(images.x, f, title=f"{c.method}  iteration {it}") for it, f in trace.frames]
        fps = int(min(30, max(4, round(len(frames) / 8))))
        path = write_mp4(frames, reporter.workdir / "evolution.mp4", fps=fps)
        reporter.artifact("mp4", path, f"reconstruction over {res.iterations} iterations (top: originals)",
                          group="evolution")
    n = len(trace.per_image)
    summary = {
        "mse": float(np.mean([m["mse"] for m in trace.per_image])),
        "psnr": float(np.mean([m["psnr"] for m in trace.per_image])),
        "ssim": float(np.mean([m["ssim"] for m in trace.per_image])),
        "label_accuracy": sum(m["label_correct"] for m in trace.per_image) / n,
        "leaked_images": sum(m["leaked"] for m in trace.per_image),
        "iterations": res.iterations,
        "evaluations": res.evaluations,
        "wall_s": res.wall_s,
        "diverged": res.diverged,
        "stalled": res.stalled,
        "fallback_steps": res.fallback_steps,
        "gradient_distance": res.gradient_loss if math.isfinite(res.gradient_loss) else None,
        "restart": res.restart,
        "restarts_run": len(res.restart_losses),
        "leak_psnr": c.leak_psnr,
        "leak_ssim": c.leak_ssim,
        "torch_threads": torch_threads,
    }
    if c.defence in ("gaussian", "laplacian"):
        summary["noise_variance_relative"] = c.defence_strength / clean_ms if clean_ms > 0 else None
        summary["gradient_mean_square"] = clean_ms
    if victim_acc is not None:
        summary["victim_accuracy"] = victim_acc
    record = {"config": c.to_dict(), "images": [dict(m, name=images.names[i]) for i, m in enumerate(trace.per_image)],
              "summary": summary, "gradient_loss": res.losses, "mse_curve": trace.mse_curve}
    path = reporter.workdir / "metrics.json"
    path.write_text(json.dumps(record, indent=1))
    reporter.artifact("json", path, "per-image metrics, loss and MSE curves", group="metrics")
    reporter.progress(1.0, "done")
    stall = ""
    if res.stalled:
        stall = (f"; the optimiser stalled after {res.iterations} improving steps"
                 + (f", Adam fallback {res.fallback_steps} steps" if res.fallback_steps else ""))
    return Summary(f"{c.method} leaked {summary['leaked_images']}/{n} image(s) in {res.iterations} steps (mean PSNR "
                   f"{summary['psnr']:.1f} dB, SSIM {summary['ssim']:.3f}){stall}; "
                   f"{leak_criterion(c.leak_psnr, c.leak_ssim)}", summary)
