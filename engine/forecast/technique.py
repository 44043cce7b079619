"""The ``video-forecast`` technique (Zhai et al., Learning to Forecast Videos of
Human Activity with Multi-granularity Models and Adaptive Rendering,
arXiv:1712.01955): forecast poses with the hierarchical model
(:mod:`.pose_model`), render them with adaptive appearance filters
(:mod:`.render_model`), and compare, on the same test clips and horizons,
with zero velocity, constant velocity, the two ablations (no group level,
one fixed group) and direct pixel prediction (a ConvGRU).

Data: multi-person clips composed from real motion capture (:mod:`.compose`)
or a user's folder of COCO-17 keypoints and frames (:mod:`.userdata`). All
models train through the one loop (``engine.training.fit``), each over
``seeds`` seeds (the pose models, the renderer and the pixel baseline; mean
and spread reported, per-seed lists in the summary). On composed scenes the
group formation is checked against the true groups (pairwise agreement,
``group_recovery_*``). Metrics per horizon (:mod:`.metrics`): pose error in pixels,
PSNR and SSIM (scikit-image). The page gets H.264 videos (observed, then the
forecast, beside the ground truth and the baselines, skeletons over), curves
of error against horizon per method, a gallery of clips, and the pose
models as networks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ConfigBase, param
from ..data import data_dir
from ..hardware.measure import fixed_threads
from ..networks import NetworkSpec, keep_network
from ..problems import PoseForecast, VideoForecast
from ..reporter import Reporter, Summary
from ..training import StepOutput, fit, make_optimizer
from ..training.recipe import make_loader
from .clips import ClipSet, make_clips, with_pose_clips
from .compose import ORIGIN_NOTE, SceneConfig, compose_poses, compose_scenes
from .metrics import group_recovery, image_metrics_per_horizon, pose_error_per_horizon
from .pose_model import VARIANTS, HierarchicalPoseModel, constant_velocity, zero_velocity
from .render_model import AdaptiveRenderer, PixelConvGRU, PoseVideoRenderer, limb_maps
from .userdata import ForecastDataError, load_folder
from .video import panel_frames, save_strip, write_forecast_video

__all__ = ["Config", "run", "load_clips", "SOURCES"]

SOURCES = ("composed", "folder")


@dataclass(frozen=True)
class Config(ConfigBase):
    source: str = param("composed", help="composed: multi-person clips composed from real motion capture "
                        "(pybullet's DeepMimic clips, real photographs); folder: your clips (COCO-17 keypoint JSON "
                        "per clip with NAME.mp4 or a folder of frames)", choices=SOURCES)
    data_folder: str = param("", help="folder: the clips' folder inside FRONTIER_DATA_DIR (a relative path is taken "
                             "from there); two thirds of the clips train, the rest test", max_length=500)
    train_scenes: int = param(40, help="Composed: training scenes (drawn as frames: the renderer and the pixel "
                              "baseline train on them, the pose models too)", min=1, max=2000)
    pose_scenes: int = param(400, help="Composed: more training scenes for the pose models only, their motion "
                             "composed without drawing frames (cheap: about 30 ms a scene)", min=0, max=20_000)
    test_scenes: int = param(10, help="Composed: test scenes (other seeds)", min=1, max=500)
    scene_seconds: float = param(6.0, help="Composed: seconds per scene", min=1.0, max=60.0)
    image_size: int = param(64, help="Frame side in pixels (a multiple of 4)", min=16, max=256)
    fps: int = param(15, help="Composed: frames per second", min=5, max=30)
    observed_frames: int = param(10, help="Frames observed", min=2, max=60)
    future_frames: int = param(10, help="Frames forecast (the horizons)", min=1, max=60)
    max_people: int = param(6, help="People per clip (more are dropped, fewer padded); composed: the most people "
                            "in a scene", min=1, max=8)
    min_people: int = param(3, help="Composed: the fewest people in a scene", min=1, max=8)
    clip_stride: int = param(5, help="Frames between the starts of two clips of a scene", min=1, max=100)
    hidden: int = param(64, help="Pose model: state size of each level", min=8, max=512)
    pose_epochs: int = param(10, help="Pose models: training epochs", min=1, max=1000)
    pose_lr: float = param(2e-3, help="Pose models: Adam learning rate", min=1e-5, max=0.1)
    seeds: int = param(2, help="Pose models: seeds each model is trained with (mean and spread reported)",
                       min=1, max=10)
    batch_size: int = param(64, help="Pose models: clips per batch", min=1, max=1024)
    link_distance: float = param(0.75, help="Groups: linked when closer than this many body heights",
                                 min=0.1, max=20.0)
    link_speed: float = param(0.04, help="Groups: and velocities differing by less than this many body heights "
                              "a frame", min=0.001, max=5.0)
    renderer_steps: int = param(400, help="Renderer: training steps", min=1, max=100_000)
    renderer_width: int = param(16, help="Renderer and pixel baseline: channels of the first layer", min=4, max=128)
    pixel_steps: int = param(300, help="Pixel baseline (ConvGRU): training steps", min=1, max=100_000)
    render_batch: int = param(8, help="Renderer and pixel baseline: clips per step", min=1, max=256)
    render_lr: float = param(2e-3, help="Renderer and pixel baseline: Adam learning rate", min=1e-5, max=0.1)
    eval_clips: int = param(40, help="Test clips the frames are rendered and scored on (PSNR, SSIM; 0: all). "
                            "Pose errors use every test clip", min=0, max=100_000)
    video_clips: int = param(3, help="Test clips shown as videos and in the gallery", min=1, max=12)
    threads: int = param(1, help="CPU threads (1 is fastest on a shared machine; 0 keeps torch's default)",
                         min=0, max=256, advanced=True)
    seed: int = param(0, help="Random seed (scenes, initial weights, batches)", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if self.image_size % 4:
            errors["image_size"] = "must be a multiple of 4 (the encoders halve it twice)"
        if self.source == "folder" and not self.data_folder.strip():
            errors["data_folder"] = "name the folder of your clips"
        if self.source == "composed" and self.min_people > self.max_people:
            errors["min_people"] = f"must not be more than max_people ({self.max_people})"
        n = self.observed_frames + self.future_frames
        if self.source == "composed" and n > round(self.scene_seconds * self.fps):
            errors["scene_seconds"] = (f"a scene of {self.scene_seconds:g} s at {self.fps} fps is shorter than "
                                       f"{n} observed + future frames")
        return errors


# -- data ----------------------------------------------------------------------------------------------------

def load_clips(config: Config, reporter: Reporter | None = None) -> tuple[ClipSet, ClipSet, ClipSet, str]:
    """Training clips (with frames), test clips, the pose models' training clips (the training clips and, on
    composed data, those of ``pose_scenes`` more scenes composed without frames), and what they are."""
    kw = dict(observed=config.observed_frames, future=config.future_frames, stride=config.clip_stride,
              max_people=config.max_people)
    if config.source == "folder":
        root = data_dir().expanduser().resolve()
        folder = (root / Path(config.data_folder).expanduser()).resolve()
        if folder != root and root not in folder.parents:
            raise ForecastDataError(f"data_folder: {config.data_folder} is not inside FRONTIER_DATA_DIR ({root})")
        scenes = load_folder(folder, size=config.image_size)
        if len(scenes) < 2:
            raise ForecastDataError(f"{folder}: at least 2 clips are needed (training and test)")
        cut = max(1, (2 * len(scenes)) // 3)
        train = make_clips(scenes[:cut], **kw)
        return train, make_clips(scenes[cut:], **kw), train, f"{len(scenes)} clips from {folder.name} (real video)"
    cfg = SceneConfig(size=config.image_size, fps=config.fps, seconds=config.scene_seconds,
                      max_people=config.max_people, min_people=config.min_people)
    seeds_train = [config.seed * 100_003 + i for i in range(config.train_scenes)]
    seeds_test = [config.seed * 100_003 + 50_000 + i for i in range(config.test_scenes)]
    total = len(seeds_train) + len(seeds_test)

    def prog(base):
        return None if reporter is None else (
            lambda f, m: reporter.progress(0.15 * (base + f * (len(seeds_train) if base == 0 else len(seeds_test)))
                                           / total, m))
    # the pose models' extra scenes: seeds of their own (below the test seeds' offset, whatever train_scenes is)
    seeds_pose = [config.seed * 100_003 + 25_000 + i for i in range(config.pose_scenes)]
    train = compose_scenes(seeds_train, cfg, progress=prog(0))
    test = compose_scenes(seeds_test, cfg, progress=prog(len(seeds_train)))

    def as_tuple(ss, tag):
        return [(s.frames, s.poses, s.depth, f"{tag}-{i} ({s.script})", s.groups, s.cues) for i, s in enumerate(ss)]
    train_clips = make_clips(as_tuple(train, "train"), **kw)
    pose_clips = train_clips
    if seeds_pose:
        if reporter is not None:
            reporter.progress(0.15, f"composing the motion of {len(seeds_pose)} more scenes for the pose models")
        extra = compose_poses(seeds_pose, cfg)
        pose_clips = with_pose_clips(train_clips, make_clips(as_tuple(extra, "poses"), **kw))
    about = (f"{len(train)} + {len(test)} scenes"
             + (f" (and the motion of {len(seeds_pose)} more for the pose models)" if seeds_pose else "")
             + f" {ORIGIN_NOTE}")
    return train_clips, make_clips(as_tuple(test, "test"), **kw), pose_clips, about


# -- training ----------------------------------------------------------------------------------------------------

def _pose_step(model, batch) -> StepOutput:
    obs, fut, mask = batch
    pred = model(obs, mask)
    err = (pred - fut).abs().sum(-1).mean((-1, -2))  # (B, P)
    m = mask.float()
    loss = (err * m).sum() / m.sum().clamp_min(1) / model.image_size * 10
    return StepOutput(loss=loss, count=int(obs.shape[0]))


def _series_progress(reporter, name, lo, span):
    def progress(frac, message, metrics):
        reporter.progress(lo + span * frac, f"{name}: {message}")
        if "epoch" in metrics:
            reporter.series(f"loss/{name}", int(metrics["epoch"]), float(metrics["loss"]))
    return progress


def train_pose_model(config: Config, train: ClipSet, variant: str, seed: int, *, progress=None
                     ) -> HierarchicalPoseModel:
    torch.manual_seed(seed)
    model = HierarchicalPoseModel(future=config.future_frames, image_size=train.size, hidden=config.hidden,
                                  variant=variant, link_distance=config.link_distance, link_speed=config.link_speed)
    loader = make_loader((train.obs, train.fut, train.mask), batch_size=config.batch_size, seed=seed)
    fit(model, _pose_step, loader, epochs=config.pose_epochs, schedule="cosine", grad_clip=1.0,
        optimizer=make_optimizer(model.parameters(), name="adam", lr=config.pose_lr), progress=progress)
    return model.eval()


class _Draws:
    """``steps`` random batches of clip indices (and a horizon each), from a seeded generator."""

    def __init__(self, n: int, steps: int, batch: int, horizons: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.batches = [(torch.randint(0, n, (batch,), generator=g), int(torch.randint(0, horizons, (1,), generator=g)))
                        for _ in range(steps)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def _render_inputs(clips: ClipSet, idx: torch.Tensor, target_poses: torch.Tensor):
    """Last observed frame, background, source / target limb maps of clips ``idx``."""
    frames = clips.clip_frames(idx)
    last = frames[:, clips.observed_frames - 1]
    src = limb_maps(clips.obs[idx][:, :, -1], clips.size)
    tgt = limb_maps(target_poses, clips.size)
    return frames, last, clips.backgrounds(idx), src, tgt


def train_renderer(config: Config, train: ClipSet, *, seed: int | None = None, progress=None) -> AdaptiveRenderer:
    seed = config.seed if seed is None else seed
    torch.manual_seed(seed)
    model = AdaptiveRenderer(width=config.renderer_width)

    def step(m, batch) -> StepOutput:
        idx, k = batch
        frames, last, bg, src, tgt = _render_inputs(train, idx, train.fut[idx][:, :, k])
        out = m(last, src, tgt, bg, train.mask[idx], train.depth[idx])
        target = frames[:, train.observed_frames + k]
        # the whole frame, and the people's pixels again (a few percent of the frame)
        people = (tgt.amax(2) * train.mask[idx][..., None, None]).amax(1, keepdim=True)
        err = (out - target).abs()
        loss = err.mean() + (err * people).sum() / (3 * people.sum()).clamp_min(1.0)
        return StepOutput(loss=loss, count=len(idx))

    fit(model, step, _Draws(len(train), config.renderer_steps, config.render_batch, train.future_frames, seed),
        epochs=1, optimizer=make_optimizer(model.parameters(), name="adam", lr=config.render_lr), schedule="cosine",
        grad_clip=1.0, progress=progress)
    return model.eval()


def train_pixel_baseline(config: Config, train: ClipSet, *, seed: int | None = None, progress=None) -> PixelConvGRU:
    seed = config.seed if seed is None else seed
    torch.manual_seed(seed)
    model = PixelConvGRU(future=train.future_frames, width=config.renderer_width)
    To = train.observed_frames

    def step(m, batch) -> StepOutput:
        idx, _ = batch
        frames = train.clip_frames(idx)
        return StepOutput(loss=F.l1_loss(m(frames[:, :To]), frames[:, To:]), count=len(idx))

    fit(model, step, _Draws(len(train), config.pixel_steps, config.render_batch, 1, seed + 1), epochs=1,
        optimizer=make_optimizer(model.parameters(), name="adam", lr=config.render_lr), schedule="cosine",
        grad_clip=1.0, progress=progress)
    return model.eval()


@torch.no_grad()
def render_forecast(renderer: AdaptiveRenderer, clips: ClipSet, idx: torch.Tensor, poses: torch.Tensor,
                    chunk: int = 8) -> torch.Tensor:
    """(len(idx), Tf, 3, H, W) frames rendered from forecast ``poses`` (len(idx), P, Tf, 17, 2)."""
    out = []
    for lo in range(0, len(idx), chunk):
        sl = idx[lo:lo + chunk]
        p = poses[lo:lo + chunk]
        frames = clips.clip_frames(sl)
        last, bg = frames[:, clips.observed_frames - 1], clips.backgrounds(sl)
        src = limb_maps(clips.obs[sl][:, :, -1], clips.size)
        out.append(torch.stack([renderer(last, src, limb_maps(p[:, :, k], clips.size), bg, clips.mask[sl],
                                         clips.depth[sl]) for k in range(p.shape[2])], 1))
    return torch.cat(out)


# -- the run ---------------------------------------------------------------------------------------------------

def _pose_spec(model: HierarchicalPoseModel) -> NetworkSpec:
    return NetworkSpec("pose-forecast", {"variant": model.variant, "hidden": model.hidden,
                                         "image_size": model.image_size, "link_distance": model.link_distance,
                                         "link_speed": model.link_speed, "pairwise": model.pairwise})


def run(config: Config, hardware: Any, reporter: Reporter) -> Summary:
    with fixed_threads(config.threads):
        return _run(config, reporter)


def _run(config: Config, reporter: Reporter) -> Summary:
    reporter.progress(0.0, "loading clips")
    train, test, pose_train, about = load_clips(config, reporter)
    To, Tf = config.observed_frames, config.future_frames
    reporter.progress(0.15, f"{len(train)} training ({len(pose_train)} for the pose models) and {len(test)} test "
                      f"clips: {about}")
    problem = PoseForecast(people=config.max_people, joints=17, dims=2, observed_frames=To, future_frames=Tf)

    # pose models over seeds: the hierarchical one and its two ablations
    errors: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    # the people whose future holds a change cued by someone else's observed action (composed scenes)
    cued = None if test.cued is None else test.mask & test.cued
    errors_cued: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    forecasts: dict[str, torch.Tensor] = {}
    hier_forecasts: list[torch.Tensor] = []  # per seed: the renderer of that seed draws it
    models: dict[str, HierarchicalPoseModel] = {}
    n_runs = len(VARIANTS) * config.seeds
    for r, (s, variant) in enumerate((s, v) for s in range(config.seeds) for v in VARIANTS):
        seed = config.seed + s
        model = train_pose_model(config, pose_train, variant, seed, progress=_series_progress(
            reporter, f"pose-{variant}-seed{seed}", 0.15 + 0.35 * r / n_runs, 0.35 / n_runs))
        with torch.no_grad():
            pred = model(test.obs, test.mask)
        errors[variant].append(pose_error_per_horizon(pred, test.fut, test.mask))
        if cued is not None and cued.any():
            errors_cued[variant].append(pose_error_per_horizon(pred, test.fut, cued))
        if variant == "hierarchical":
            hier_forecasts.append(pred)
        if s == 0:
            forecasts[variant], models[variant] = pred, model
    forecasts["constant-velocity"] = constant_velocity(test.obs, Tf)
    forecasts["zero-velocity"] = zero_velocity(test.obs, Tf)
    for name in ("constant-velocity", "zero-velocity"):
        errors[name] = [pose_error_per_horizon(forecasts[name], test.fut, test.mask)]
        if cued is not None and cued.any():
            errors_cued[name] = [pose_error_per_horizon(forecasts[name], test.fut, cued)]

    # frames: the renderer and the pixel baseline trained per seed, scored on the same clips
    n_eval = len(test) if config.eval_clips == 0 else min(len(test), config.eval_clips)
    eval_idx = torch.linspace(0, len(test) - 1, n_eval).round().long().unique()
    truth = test.clip_frames(eval_idx)[:, To:]
    image_runs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    frames: dict[str, torch.Tensor] = {}
    span = 0.3 / config.seeds
    for s in range(config.seeds):
        seed, lo = config.seed + s, 0.5 + span * s
        reporter.progress(lo, f"training the renderer (adaptive appearance filters), seed {seed}")
        rend = train_renderer(config, train, seed=seed,
                              progress=_series_progress(reporter, f"renderer-seed{seed}", lo, span * 0.45))
        reporter.progress(lo + span * 0.45, f"training the pixel baseline (ConvGRU), seed {seed}")
        pix = train_pixel_baseline(config, train, seed=seed, progress=_series_progress(
            reporter, f"pixel-convgru-seed{seed}", lo + span * 0.45, span * 0.45))
        reporter.progress(lo + span * 0.9, f"rendering forecasts of {len(eval_idx)} test clips, seed {seed}")
        fr = {"hierarchical": render_forecast(rend, test, eval_idx, hier_forecasts[s][eval_idx]),
              "constant-velocity": render_forecast(rend, test, eval_idx, forecasts["constant-velocity"][eval_idx]),
              "true-poses-rendered": render_forecast(rend, test, eval_idx, test.fut[eval_idx])}
        with torch.no_grad():
            fr["pixel-convgru"] = torch.cat([pix(test.clip_frames(eval_idx[i:i + 8])[:, :To])
                                             for i in range(0, len(eval_idx), 8)])
        if s == 0:
            renderer, pixel, frames = rend, pix, fr
        for k, v in fr.items():
            image_runs.setdefault(k, []).append(image_metrics_per_horizon(v, truth))
    frames["last-frame"] = test.clip_frames(eval_idx)[:, To - 1:To].expand(-1, Tf, -1, -1, -1)
    image_runs["last-frame"] = [image_metrics_per_horizon(frames["last-frame"], truth)]

    group_diag = None
    if test.groups is not None:
        group_diag = group_recovery(test.obs, test.groups, test.mask, link_distance=config.link_distance,
                                    link_speed=config.link_speed)

    # curves, candidates, networks
    summary_rows: dict[str, dict[str, Any]] = {}
    for name, errs in errors.items():
        e = np.stack(errs)  # (seeds, Tf)
        for k in range(Tf):
            reporter.series(f"pose error (px)/{name}", k + 1, float(e[:, k].mean()))
        summary_rows[name] = {"pose_err_final_px": float(e[:, -1].mean()),
                              "pose_err_final_px_std": float(e[:, -1].std()),
                              "pose_err_mean_px": float(e.mean()), "seeds": len(errs)}
    per_seed: dict[str, list[float]] = {}
    for name, runs in image_runs.items():
        ps, ss = np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs])  # (seeds, Tf)
        for k in range(Tf):
            reporter.series(f"psnr (dB)/{name}", k + 1, float(ps[:, k].mean()))
            reporter.series(f"ssim/{name}", k + 1, float(ss[:, k].mean()))
        row = summary_rows.setdefault(name, {})
        row.update({"psnr": float(ps.mean()), "psnr_std": float(ps.mean(1).std()), "ssim": float(ss.mean()),
                    "ssim_std": float(ss.mean(1).std()), "psnr_final": float(ps[:, -1].mean()),
                    "ssim_final": float(ss[:, -1].mean()), "eval_clips": int(len(eval_idx)),
                    "image_seeds": len(runs)})
        per_seed[f"psnr_{name}"] = [round(float(x), 3) for x in ps.mean(1)]
        per_seed[f"ssim_{name}"] = [round(float(x), 4) for x in ss.mean(1)]
    for name in VARIANTS:
        per_seed[f"pose_err_final_px_{name}"] = [round(float(e[-1]), 3) for e in errors[name]]
    what = {"hierarchical": "person, group (formed each step) and scene levels; rendered with adaptive filters",
            "no-group": "ablation: the group level removed", "one-group": "ablation: everyone in one fixed group",
            "constant-velocity": "baseline: every joint moves on at its last velocity (rendered by the same renderer)",
            "zero-velocity": "baseline: the last pose held",
            "pixel-convgru": "baseline: direct pixel prediction (convolutional GRU)",
            "true-poses-rendered": "the renderer fed the true future poses: its ceiling, not a forecast",
            "last-frame": "baseline: the last observed frame held (pixels)"}
    index: dict[str, int] = {}
    for name, row in summary_rows.items():
        mod = models.get(name) or {"pixel-convgru": pixel, "true-poses-rendered": renderer}.get(name)
        metrics = {**row, "method": name, "data": "composed" if config.source == "composed" else "real",
                   "horizon_frames": Tf}
        if mod is not None:
            metrics["params"] = int(sum(p.numel() for p in mod.parameters()))
        index[name] = reporter.candidate({"method": name, "about": what[name]}, metrics)
    dataset = "mocap-groups" if config.source == "composed" else "user-clips"
    for variant, model in models.items():
        keep_network(reporter, model, name=f"pose forecaster ({variant})", spec=_pose_spec(model), problem=problem,
                     dataset=dataset,
                     metrics={"pose_err_final_px": summary_rows[variant]["pose_err_final_px"]},
                     made_by=f"video-forecast: {what[variant]}", technique="video-forecast",
                     candidate=index[variant], primary=variant == "hierarchical")

    video = dict(channels=3, size=test.size, observed_frames=To, future_frames=Tf)
    keep_network(reporter, PoseVideoRenderer.wrap(renderer), name="pose renderer (adaptive appearance filters)",
                 spec=NetworkSpec("video-forecast", {"model": "renderer", "width": config.renderer_width}),
                 problem=VideoForecast(**video, people=config.max_people), dataset=dataset,
                 metrics={"psnr": summary_rows["true-poses-rendered"]["psnr"]},
                 made_by="video-forecast: renders forecast poses (psnr: fed the true future poses)",
                 technique="video-forecast", candidate=index["true-poses-rendered"])
    keep_network(reporter, pixel, name="pixel ConvGRU (baseline)",
                 spec=NetworkSpec("video-forecast", {"model": "pixel-convgru", "width": config.renderer_width,
                                                     "hidden": pixel.hidden}),
                 problem=VideoForecast(**video), dataset=dataset,
                 metrics={"psnr": summary_rows["pixel-convgru"]["psnr"]},
                 made_by=f"video-forecast: {what['pixel-convgru']}", technique="video-forecast",
                 candidate=index["pixel-convgru"])

    reporter.progress(0.9, "writing videos")
    _videos(reporter, test, eval_idx, truth, frames, forecasts, config)

    h, cv, ng = (summary_rows[k]["pose_err_final_px"] for k in ("hierarchical", "constant-velocity", "no-group"))
    out = {"pose_err_ratio_vs_cv": h / cv if cv > 0 else None, "pose_err_ratio_vs_no_group": h / ng if ng > 0 else None,
           "pose_err_final_px": h, "pose_err_final_px_cv": cv, "pose_err_final_px_no_group": ng,
           "pose_err_final_px_one_group": summary_rows["one-group"]["pose_err_final_px"],
           "pose_err_final_px_zero_velocity": summary_rows["zero-velocity"]["pose_err_final_px"],
           "psnr_model": summary_rows["hierarchical"]["psnr"],
           "psnr_pixel_baseline": summary_rows["pixel-convgru"]["psnr"],
           "ssim_model": summary_rows["hierarchical"]["ssim"],
           "ssim_pixel_baseline": summary_rows["pixel-convgru"]["ssim"],
           "psnr_cv_rendered": summary_rows["constant-velocity"]["psnr"],
           "psnr_true_poses_rendered": summary_rows["true-poses-rendered"]["psnr"],
           "psnr_last_frame": summary_rows["last-frame"]["psnr"], "ssim_last_frame": summary_rows["last-frame"]["ssim"],
           "psnr_model_std": summary_rows["hierarchical"]["psnr_std"],
           "psnr_pixel_baseline_std": summary_rows["pixel-convgru"]["psnr_std"],
           "ssim_model_std": summary_rows["hierarchical"]["ssim_std"],
           "ssim_pixel_baseline_std": summary_rows["pixel-convgru"]["ssim_std"],
           "pose_err_final_px_std": summary_rows["hierarchical"]["pose_err_final_px_std"],
           "pose_err_final_px_no_group_std": summary_rows["no-group"]["pose_err_final_px_std"],
           "pose_err_final_px_one_group_std": summary_rows["one-group"]["pose_err_final_px_std"],
           "per_seed": per_seed,
           "train_clips": len(train), "pose_train_clips": len(pose_train), "test_clips": len(test),
           "seeds": config.seeds}
    if group_diag is not None:
        out.update({f"group_recovery_{k}": v for k, v in group_diag.items()})
    if errors_cued["hierarchical"]:
        for name, errs in errors_cued.items():
            e = np.stack(errs)[:, -1]
            out[f"cued_pose_err_final_px_{name}"] = float(e.mean())
            out[f"cued_pose_err_final_px_{name}_std"] = float(e.std())
        out["cued_people"] = int(cued.sum())
        out["cued_pose_err_ratio_vs_no_group"] = (out["cued_pose_err_final_px_hierarchical"]
                                                  / out["cued_pose_err_final_px_no-group"])
    verdict = []
    verdict.append("beats" if h < cv else "does NOT beat")
    verdict.append("beats" if h < ng else "does NOT beat")
    verdict.append("above" if out["psnr_model"] > out["psnr_pixel_baseline"] else "NOT above")
    verdict.append("above" if out["psnr_model"] > out["psnr_last_frame"] else "NOT above")
    msg = (f"hierarchical pose error at +{Tf}: {h:.2f} px ({verdict[0]} constant velocity {cv:.2f}, {verdict[1]} "
           f"no-group {ng:.2f}); pose-then-render PSNR {out['psnr_model']:.2f} dB, {verdict[2]} direct pixel "
           f"prediction {out['psnr_pixel_baseline']:.2f} dB, {verdict[3]} the last frame held "
           f"{out['psnr_last_frame']:.2f} dB"
           + (f"; groups formed agree with the true ones on {group_diag['accuracy']:.0%} of pairs (everyone apart: "
              f"{group_diag['accuracy_all_apart']:.0%})" if group_diag is not None else ""))
    # the data's label in full among the figures; in the message its first clause (the message is kept whole,
    # under the 500 characters a job's message holds)
    out["data_origin"] = about
    label = f"; data: {about.split(':', 1)[0]}"
    msg = msg + (label if len(msg) + len(label) <= 500 else "")
    reporter.progress(1.0, msg)
    return Summary(msg, out)


def _videos(reporter, test: ClipSet, eval_idx, truth, frames, forecasts, config: Config) -> None:
    To = config.observed_frames
    picks = list(range(min(config.video_clips, len(eval_idx))))
    rows = []
    for j, i in enumerate(picks):
        ci = eval_idx[i:i + 1]
        full = test.clip_frames(ci)[0]
        obs = full[:To]
        mask = test.mask[int(ci)]

        def cat(fut):
            return torch.cat([obs, fut], 0)

        def with_obs(p):
            return torch.cat([test.obs[int(ci)], p], 1)

        cols = [("ground truth", full, None),
                ("hierarchical + renderer", cat(frames["hierarchical"][i]), None),
                ("its poses over the truth", full, with_obs(forecasts["hierarchical"][int(ci)])),
                ("const. velocity + renderer", cat(frames["constant-velocity"][i]), None),
                ("pixel ConvGRU", cat(frames["pixel-convgru"][i]), None)]
        name = test.names[int(test.scene[int(ci)])]
        path = write_forecast_video(reporter.workdir / f"forecast-{j + 1}.mp4", cols, mask, To)
        reporter.artifact("mp4", path, f"{name}, clip from frame {int(test.start[int(ci)])}: {To} observed frames, "
                          "then the forecast beside the ground truth and the baselines (middle: the hierarchical "
                          "model's forecast skeletons over the true frames)", group="forecast videos")
        pf = panel_frames(cols, mask, To)
        rows.append(np.concatenate([pf[To - 1], pf[-1]], 1))
    if rows:
        path = save_strip(reporter.workdir / "gallery.png", rows)
        reporter.artifact("png", path, "gallery: per test clip, the last observed frame and the final forecast "
                          "frame of each method (left: observed, right: forecast)", group="gallery")
