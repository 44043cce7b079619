"""Defences against gradient leakage, applied to the gradients a client shares.

Each takes a list of gradient tensors and returns new tensors (the inputs are
never modified). Strengths:

- ``prune``: fraction p of each tensor's entries with the smallest magnitude set to 0
- ``gaussian`` / ``laplacian``: additive noise of the given *variance*
  (Zhu et al. sweep 1e-4 .. 1e-1 on their gradients; the default levels
  reach down to 1e-6 because the absolute scale that stops the attack depends
  on the victim's gradient magnitude); Laplace scale b = sqrt(variance / 2)
- ``quantize``: bits; 16 is a cast to IEEE half precision and back, 2..8 a
  symmetric per-tensor integer quantisation (int8 when 8), dequantised
- ``batch``: the number of images behind one shared gradient (handled by the
  caller, which simply computes the gradient of a larger batch)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Defence", "DEFENCES", "GRADIENT_DEFENCES", "prune_gradients", "gaussian_noise", "laplacian_noise",
           "fp16_compress", "int_quantize", "apply_defence", "defence_detail", "gradient_mean_square"]


@dataclass(frozen=True)
class Defence:
    name: str
    title: str
    unit: str
    #: True when a larger strength protects more (pruning, noise, batch); False for bits
    stronger_is_larger: bool
    levels: tuple[float, ...]


DEFENCES: dict[str, Defence] = {
    "prune": Defence("prune", "Gradient pruning", "fraction pruned", True, (0.01, 0.1, 0.2, 0.3, 0.5, 0.7)),
    "gaussian": Defence("gaussian", "Gaussian noise", "variance", True, (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)),
    "laplacian": Defence("laplacian", "Laplacian noise", "variance", True, (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)),
    "quantize": Defence("quantize", "Gradient compression", "bits", False, (16, 8, 4, 2)),
    "batch": Defence("batch", "Larger batches", "batch size", True, (1, 2, 4, 8)),
}
GRADIENT_DEFENCES = ("prune", "gaussian", "laplacian", "quantize")


def prune_gradients(grads: list[torch.Tensor], ratio: float) -> list[torch.Tensor]:
    """Zero exactly ``round(ratio * n)`` smallest-magnitude entries of each tensor."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError("prune ratio must be in [0, 1]")
    out = []
    for g in grads:
        flat = g.detach().flatten().clone()
        k = int(round(ratio * flat.numel()))
        if k > 0:
            idx = torch.topk(flat.abs(), k, largest=False, sorted=False).indices
            flat[idx] = 0
        out.append(flat.view_as(g))
    return out


def gaussian_noise(grads: list[torch.Tensor], variance: float, *, generator: torch.Generator) -> list[torch.Tensor]:
    if variance < 0:
        raise ValueError("noise variance must be >= 0")
    std = math.sqrt(variance)
    return [g.detach() + std * torch.randn(g.shape, generator=generator, dtype=g.dtype) for g in grads]


def laplacian_noise(grads: list[torch.Tensor], variance: float, *, generator: torch.Generator) -> list[torch.Tensor]:
    if variance < 0:
        raise ValueError("noise variance must be >= 0")
    b = math.sqrt(variance / 2.0)
    out = []
    for g in grads:
        # inverse CDF: u ~ U(-1/2, 1/2), x = -b sign(u) log(1 - 2|u|)
        u = torch.rand(g.shape, generator=generator, dtype=torch.float64) - 0.5
        noise = -b * torch.sign(u) * torch.log1p(-2.0 * u.abs().clamp_max(0.5 - 1e-12))
        out.append(g.detach() + noise.to(g.dtype))
    return out


def gradient_mean_square(grads: list[torch.Tensor]) -> float:
    """Mean of the squared entries over every tensor of a gradient: what a noise
    variance is relative to (variance / mean square is the noise-to-signal power
    ratio, independent of the victim's gradient scale)."""
    n = sum(g.numel() for g in grads)
    return float(sum(float((g.detach().double() ** 2).sum()) for g in grads) / n) if n else 0.0


def fp16_compress(grads: list[torch.Tensor]) -> list[torch.Tensor]:
    """Round to IEEE half precision (what a client sending fp16 transmits)."""
    return [g.detach().half().to(g.dtype) for g in grads]


def int_quantize(grads: list[torch.Tensor], bits: int = 8) -> list[torch.Tensor]:
    """Symmetric per-tensor quantisation to signed ``bits``-bit integers and back:
    scale = max|g| / (2^(bits-1) - 1); error per entry at most scale / 2."""
    if not 2 <= bits <= 8:
        raise ValueError("integer quantisation takes 2 to 8 bits")
    qmax = 2 ** (bits - 1) - 1
    out = []
    for g in grads:
        g = g.detach()
        amax = g.abs().max()
        if amax == 0:
            out.append(g.clone())
            continue
        scale = amax / qmax
        out.append(torch.clamp(torch.round(g / scale), -qmax, qmax) * scale)
    return out


def apply_defence(name: str, grads: list[torch.Tensor], strength: float, *,
                  generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Apply one gradient defence at ``strength``; ``none`` and ``batch`` pass through."""
    if name in ("none", "batch"):
        return [g.detach().clone() for g in grads]
    if name == "prune":
        return prune_gradients(grads, float(strength))
    if name in ("gaussian", "laplacian"):
        if generator is None:
            raise ValueError(f"{name} noise needs a seeded torch.Generator")
        fn = gaussian_noise if name == "gaussian" else laplacian_noise
        return fn(grads, float(strength), generator=generator)
    if name == "quantize":
        bits = int(strength)
        if bits == 16:
            return fp16_compress(grads)
        return int_quantize(grads, bits)
    raise ValueError(f"unknown defence {name!r}; known: none, {', '.join(DEFENCES)}")


def defence_detail(name: str, strength: float) -> str:
    """A short human label: "prune 20%", "int8", "gaussian var 1e-02" …"""
    if name == "prune":
        return f"prune {strength:.0%}"
    if name in ("gaussian", "laplacian"):
        return f"{name} var {strength:.0e}"
    if name == "quantize":
        return "fp16" if int(strength) == 16 else f"int{int(strength)}"
    if name == "batch":
        return f"batch {int(strength)}"
    return "no defence"
