"""Video forecasting of multi-person activity (Zhai et al., arXiv:1712.01955):
a hierarchical pose forecaster whose groups form dynamically, an
adaptive-appearance renderer, and the baselines (zero and constant velocity,
the ablations, direct pixel prediction) on clips composed from real motion
capture (:mod:`.compose`) or a user's clips (:mod:`.userdata`); see
:mod:`.technique`."""
from engine.registry import Technique, register_technique

from .technique import SOURCES, Config, load_clips, run

__all__ = ["Config", "run", "load_clips", "SOURCES"]

register_technique(Technique(
    name="video-forecast",
    title="Video forecasting of multi-person activity: hierarchical poses, adaptive rendering",
    summary="Forecasts every person's next poses with a person / group / scene hierarchy (groups formed each step "
            "by proximity and motion), renders them with per-person adaptive appearance filters, and compares with "
            "zero and constant velocity, the no-group and one-group ablations and direct pixel prediction "
            "(ConvGRU): pose error, PSNR and SSIM per horizon, forecast videos beside the ground truth.",
    config_cls=Config,
    run=run,
    objectives={"pose_err_final_px": "min", "psnr": "max"},
    axes=("pose_err_final_px", "psnr"),
    paper="Zhai, Chen, Deng, Chen, Zhu, Mori. Learning to Forecast Videos of Human Activity with Multi-granularity "
          "Models and Adaptive Rendering. arXiv:1712.01955",
    smoke={"train_scenes": 2, "pose_scenes": 2, "test_scenes": 1, "scene_seconds": 2.0, "fps": 6, "image_size": 32,
           "observed_frames": 4, "future_frames": 3, "max_people": 3, "clip_stride": 4, "hidden": 8, "pose_epochs": 1,
           "seeds": 1, "batch_size": 8, "renderer_steps": 2, "renderer_width": 4, "pixel_steps": 2, "render_batch": 2,
           "eval_clips": 2, "video_clips": 1},
))
