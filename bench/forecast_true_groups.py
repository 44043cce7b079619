"""Diagnostic for video-forecast: is the group level limited by the groups
``form_groups`` finds (proximity and motion), or by the model? Trains the
hierarchical pose model fed the composer's TRUE groups (observed frames; the
last observed ones through the rollout) on the same clips as
``bench/forecast.py --quick`` and prints its pose error at the final horizon,
over all test people and over the *cued* ones (whose future holds a change
another person's observed action caused). Compare with that bench's
hierarchical / no-group / one-group figures.

    OMP_NUM_THREADS=1 .venv/bin/python bench/forecast_true_groups.py --seeds 3   # ~1 min a seed

The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.forecast import technique as T  # noqa: E402
from engine.forecast.metrics import pose_error_per_horizon  # noqa: E402
from engine.forecast.pose_model import HierarchicalPoseModel  # noqa: E402
from engine.training import StepOutput, fit, make_optimizer  # noqa: E402
from engine.training.recipe import make_loader  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast import QUICK  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds (1 to 10)")
    args = ap.parse_args()
    if not 1 <= args.seeds <= 10:
        ap.error("--seeds must be from 1 to 10")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cfg = T.Config(**{k: v for k, v in QUICK.items() if k in T.Config.__dataclass_fields__})
    _, test, train, about = T.load_clips(cfg)  # the pose models' training clips
    cued = test.mask & test.cued

    def step(model, batch) -> StepOutput:
        obs, fut, mask, groups = batch
        err = (model(obs, mask, groups) - fut).abs().sum(-1).mean((-1, -2))
        m = mask.float()
        return StepOutput(loss=(err * m).sum() / m.sum().clamp_min(1) / model.image_size * 10, count=int(obs.shape[0]))

    final, final_cued = [], []
    for s in range(args.seeds):
        seed = cfg.seed + s
        torch.manual_seed(seed)
        model = HierarchicalPoseModel(future=cfg.future_frames, image_size=train.size, hidden=cfg.hidden)
        loader = make_loader((train.obs, train.fut, train.mask, train.groups), batch_size=cfg.batch_size, seed=seed)
        fit(model, step, loader, epochs=cfg.pose_epochs, schedule="cosine", grad_clip=1.0,
            optimizer=make_optimizer(model.parameters(), name="adam", lr=cfg.pose_lr))
        with torch.no_grad():
            pred = model.eval()(test.obs, test.mask, test.groups)
        final.append(float(pose_error_per_horizon(pred, test.fut, test.mask)[-1]))
        final_cued.append(float(pose_error_per_horizon(pred, test.fut, cued)[-1]))
        print(f"seed {seed}: pose err +{cfg.future_frames} {final[-1]:.3f} px, cued people {final_cued[-1]:.3f} px",
              flush=True)
    print(json.dumps({"true_groups_pose_err_final_px": float(np.mean(final)),
                      "true_groups_pose_err_final_px_std": float(np.std(final)),
                      "true_groups_cued_pose_err_final_px": float(np.mean(final_cued)),
                      "true_groups_cued_pose_err_final_px_std": float(np.std(final_cued)),
                      "per_seed": {"final": final, "cued": final_cued}, "cued_people": int(cued.sum()),
                      "data": about, "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
