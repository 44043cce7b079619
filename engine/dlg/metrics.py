"""Reconstruction quality: MSE, PSNR and SSIM per image (images in [0, 1]),
and the matching of a batch's reconstructions to its originals (a shared
gradient is a mean over the batch, so the attack may return them permuted)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["mse", "psnr", "ssim", "match_reconstructions", "image_metrics", "LEAK_PSNR_DB", "LEAK_SSIM", "is_leaked",
           "leak_criterion"]

#: An image counts as leaked when, after matching, its reconstruction has PSNR >= LEAK_PSNR_DB *and*
#: SSIM >= LEAK_SSIM. PSNR alone is too loose on 32-pixel photos: an MSE of 1e-2 (20 dB) passed
#: reconstructions where only a dark background was right (21-25 dB, structure lost), which SSIM exposes.
LEAK_PSNR_DB = 25.0
LEAK_SSIM = 0.8


def is_leaked(metrics: dict[str, float], *, min_psnr: float = LEAK_PSNR_DB, min_ssim: float = LEAK_SSIM) -> bool:
    """The leak criterion on one image's ``{"psnr", "ssim"}`` (already matched)."""
    return metrics["psnr"] >= min_psnr and metrics["ssim"] >= min_ssim


def leak_criterion(min_psnr: float = LEAK_PSNR_DB, min_ssim: float = LEAK_SSIM) -> str:
    """The criterion in words, as the pages state it."""
    return (f"an image counts as leaked when its reconstruction, matched to its original (Hungarian assignment "
            f"on MSE), has PSNR >= {min_psnr:g} dB and SSIM >= {min_ssim:g}")


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image of (N, C, H, W) tensors."""
    return ((a.detach().float() - b.detach().float()) ** 2).flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (inf for identical images)."""
    return 10.0 * torch.log10(data_range ** 2 / mse(a, b))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-x ** 2 / (2 * sigma ** 2))
    w = w / w.sum()
    return torch.outer(w, w)


def ssim(a: torch.Tensor, b: torch.Tensor, *, data_range: float = 1.0, win_size: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004) per image, averaged over
    channels and over the positions where the Gaussian window (11x11, sigma
    1.5; smaller for tiny images) fits, with population statistics — the same
    definition as ``skimage.metrics.structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``."""
    a = a.detach().double()
    b = b.detach().double()
    n, c, h, w = a.shape
    win = min(win_size, h - (1 - h % 2), w - (1 - w % 2))
    k = _gaussian_window(win, sigma).to(a).expand(c, 1, win, win)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, k, groups=c)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()


def match_reconstructions(recon: torch.Tensor, original: torch.Tensor) -> list[int]:
    """``perm`` such that ``recon[perm[i]]`` is the reconstruction of ``original[i]``
    (minimum total MSE, Hungarian algorithm)."""
    from scipy.optimize import linear_sum_assignment

    n = original.shape[0]
    if n == 1:
        return [0]
    cost = ((original.detach().float()[:, None] - recon.detach().float()[None]) ** 2).flatten(2).mean(2)
    rows, cols = linear_sum_assignment(cost.numpy())
    perm = [0] * n
    for r, c in zip(rows, cols):
        perm[int(r)] = int(c)
    return perm


def image_metrics(recon: torch.Tensor, original: torch.Tensor) -> list[dict[str, float]]:
    """``[{"mse", "psnr", "ssim"}]`` per original image (``recon`` already matched,
    clamped to [0, 1]); a perfect reconstruction's PSNR is reported as 100 dB."""
    r = recon.detach().clamp(0, 1)
    m, p, s = mse(r, original), psnr(r, original), ssim(r, original)
    out = []
    for i in range(original.shape[0]):
        pv = float(p[i])
        out.append({"mse": float(m[i]), "psnr": pv if math.isfinite(pv) else 100.0, "ssim": float(s[i])})
    return out

