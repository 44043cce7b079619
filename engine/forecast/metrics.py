"""Forecast metrics per horizon: pose error (mean per-joint distance in
pixels over the people present) and PSNR / SSIM per frame from
scikit-image (``skimage.metrics``), data range 1."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["pose_error_per_horizon", "image_metrics_per_horizon", "psnr", "ssim", "group_recovery"]


def pose_error_per_horizon(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """(N, P, T, 17, 2) forecasts and truth, (N, P) mask -> (T,) mean per-joint distance in pixels."""
    d = (pred - truth).norm(dim=-1).mean(-1)  # (N, P, T)
    m = mask[..., None].float()
    return ((d * m).sum((0, 1)) / m.sum((0, 1)).clamp_min(1)).numpy().astype(float)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two (H, W, 3) images in [0, 1] (skimage); capped at 100 for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(a, b):
        return 100.0
    return float(min(100.0, peak_signal_noise_ratio(a, b, data_range=1.0)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, 3) images in [0, 1] (skimage, Gaussian weights as Wang et al.)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def image_metrics_per_horizon(pred: torch.Tensor, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 3, H, W) frames in [0, 1] -> per-horizon mean PSNR (T,) and SSIM (T,)."""
    p = pred.clamp(0, 1).permute(0, 1, 3, 4, 2).double().numpy()
    t = truth.clamp(0, 1).permute(0, 1, 3, 4, 2).double().numpy()
    N, T = p.shape[:2]
    ps = np.array([[psnr(p[n, k], t[n, k]) for k in range(T)] for n in range(N)])
    ss = np.array([[ssim(p[n, k], t[n, k]) for k in range(T)] for n in range(N)])
    return ps.mean(0), ss.mean(0)


def group_recovery(obs: torch.Tensor, groups: torch.Tensor, mask: torch.Tensor, *, link_distance: float,
                   link_speed: float) -> dict[str, float]:
    """How well the pose model's group formation (:func:`.pose_model.form_groups`, proximity and motion) finds
    the true groups of composed scenes, over every pair of people present at every observed frame after the
    first: ``accuracy`` (pairs judged the same way), ``precision`` / ``recall`` of "same group", and
    ``accuracy_all_apart`` (the accuracy of putting everyone alone, for scale). ``obs`` (N, P, To, 17, 2),
    ``groups`` (N, P, >= To) true ids, ``mask`` (N, P)."""
    from .pose_model import body_height, form_groups

    root = obs[..., [11, 12], :].mean(-2)  # (N, P, To, 2)
    height = body_height(obs[:, :, -1])
    P = obs.shape[1]
    pair = mask[:, :, None] & mask[:, None, :] & ~torch.eye(P, dtype=torch.bool)[None]
    tp = fp = fn = tn = 0
    for t in range(1, obs.shape[2]):
        found = form_groups(root[:, :, t], root[:, :, t] - root[:, :, t - 1], height, mask,
                            link_distance=link_distance, link_speed=link_speed)
        g = groups[:, :, t]
        true = g[:, :, None] == g[:, None, :]
        tp += int((found & true & pair).sum())
        fp += int((found & ~true & pair).sum())
        fn += int((~found & true & pair).sum())
        tn += int((~found & ~true & pair).sum())
    n = max(1, tp + fp + fn + tn)
    return {"accuracy": (tp + tn) / n, "precision": tp / max(1, tp + fp), "recall": tp / max(1, tp + fn),
            "accuracy_all_apart": (fp + tn) / n, "pairs": n}
