"""What a searched MBConv network is judged against, and how its derived
architecture is made to meet the latency target.

- :func:`uniform_archs`: the simple baselines a reviewer asks for, one kernel
  and one expand ratio everywhere, at the smallest and largest depth (every
  kernel x expand, or only the smallest and largest), at each width multiplier;
- :func:`train_uniform`: each trained from scratch with the searched net's
  training budget, scored on the same test split;
- :func:`best_at_latency`: the best baseline at the searched net's latency or
  less (the comparison at equal latency);
- :func:`fit_to_target`: ProxylessNAS derives the most likely op per block,
  which can land well under or over the target; this moves ops (most likely
  of the cheaper ops when over, of the dearer ones when under) until the
  priced latency is within the target and no closer fit is possible;
- :func:`indistinct_blocks`: the blocks whose kernel/expand choices the
  profile's latency source prices within a few per cent of each other, where
  a latency loss cannot prefer one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..spaces.mbconv import MBConvSpace
from ..supernet import NasData, subnet_accuracy
from ..training import to_channels_last, train_model

__all__ = ["Baseline", "uniform_archs", "train_uniform", "best_at_latency", "fit_to_target", "indistinct_blocks",
           "GRIDS"]

GRIDS = ("grid", "corners", "none")


@dataclass
class Baseline:
    label: str
    space: MBConvSpace
    arch: dict[str, Any]
    model: torch.nn.Module | None = None
    accuracy: float | None = None


def _narrowed(space: MBConvSpace, width_mult: float) -> MBConvSpace:
    if width_mult == space.width_mult:
        return space
    return MBConvSpace(widths=space.base_widths, strides=space.strides, kernels=space.kernel_choices,
                       expands=space.expand_choices, depths=space.depth_choices, resolutions=space.resolutions,
                       stem_width=space.base_stem, stem_stride=space.stem_stride, head_width=space.base_head,
                       width_mult=width_mult)


def uniform_archs(space: MBConvSpace, resolution: int, *, grid: str = "grid",
                  width_mults: Sequence[float] = (1.0,)) -> list[Baseline]:
    """Uniform networks: every (kernel, expand) (``grid``) or only the
    smallest and the largest pair (``corners``), each at the smallest and the
    largest depth, at each width multiplier."""
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}")
    if grid == "none":
        return []
    pairs = [(k, e) for k in space.kernel_choices for e in space.expand_choices]
    if grid == "corners":
        pairs = [pairs[0], pairs[-1]]
    depths = sorted({min(space.depth_choices), max(space.depth_choices)})
    out = []
    for w in width_mults:
        sp = _narrowed(space, float(w))
        for d in depths:
            for k, e in pairs:
                arch = sp.validate({"resolution": resolution, "depths": [d] * sp.n_stages,
                                    "kernels": [k] * sp.n_slots, "expands": [e] * sp.n_slots})
                out.append(Baseline(f"uniform k{k}-e{e} depth {d}" + (f" width x{w:g}" if w != 1.0 else ""),
                                    sp, arch))
    return out


def train_uniform(baselines: list[Baseline], data: NasData, problem: Any, *, epochs: int, lr: float,
                  batch_size: int, seed: int, progress: Callable[[int, int], None] | None = None) -> None:
    """Train each baseline from scratch (SGD, cosine, the shared loop) and
    score it on the test split, in place."""
    for n, b in enumerate(baselines):
        torch.manual_seed(seed)
        r = int(b.arch["resolution"])
        b.model = to_channels_last(b.space.build(b.arch, problem))
        if epochs > 0:
            train_model(b.model, torch.utils.data.TensorDataset(data.images("train", r), data.y["train"]),
                        epochs=epochs, batch_size=batch_size, lr=lr, optimizer="sgd", weight_decay=3e-5, seed=seed,
                        drop_last=True, channels_last=True)
        b.accuracy = subnet_accuracy(b.model, data, split="test", resolution=r)
        if progress is not None:
            progress(n + 1, len(baselines))


def best_at_latency(latency_ms: float, rows: Sequence[tuple[float, float]], *, tolerance: float = 0.05
                    ) -> tuple[float, float] | None:
    """The (accuracy, latency) of the most accurate row whose latency is at
    most ``latency_ms`` x (1 + ``tolerance``); None if none is."""
    ok = [(a, lat) for a, lat in rows if lat <= latency_ms * (1 + tolerance)]
    return max(ok) if ok else None


def fit_to_target(indices: list[int], probs: Sequence[Sequence[float]], table: Sequence[Sequence[float]],
                  fixed_ms: float, target_ms: float, *, tolerance: float = 0.1,
                  allowed: Callable[[list[int]], bool] | None = None) -> list[int]:
    """Op indices per block, starting from ``indices`` (the most likely), whose
    priced latency ``fixed + sum table[s][i_s]`` is at most the target and,
    where ops allow, within ``tolerance`` under it.

    Over the target: repeatedly take the cheaper op that costs the least
    log-probability per millisecond saved. Under it by more than the
    tolerance: repeatedly take, among the dearer ops that keep the total
    within the target, the most likely one. ``allowed`` may refuse a choice
    (e.g. a zero op before a real one in a stage)."""
    idx = list(indices)
    logp = [np.log(np.maximum(np.asarray(p, float), 1e-12)) for p in probs]

    def total(ix: list[int]) -> float:
        return fixed_ms + sum(table[s][c] for s, c in enumerate(ix))

    def ok(ix: list[int]) -> bool:
        return allowed is None or allowed(ix)
    for _ in range(10 * len(idx) * max(len(r) for r in table)):
        now = total(idx)
        if now > target_ms:
            best, score = None, np.inf
            for s, row in enumerate(table):
                for c, ms in enumerate(row):
                    saved = row[idx[s]] - ms
                    if saved <= 0:
                        continue
                    trial = idx[:s] + [c] + idx[s + 1:]
                    cost = (logp[s][idx[s]] - logp[s][c]) / saved
                    if cost < score and ok(trial):
                        best, score = trial, cost
            if best is None:
                break
            idx = best
        elif now < target_ms * (1 - tolerance):
            best, score = None, -np.inf
            for s, row in enumerate(table):
                for c, ms in enumerate(row):
                    if ms <= row[idx[s]] or now - row[idx[s]] + ms > target_ms:
                        continue
                    trial = idx[:s] + [c] + idx[s + 1:]
                    if logp[s][c] > score and ok(trial):
                        best, score = trial, logp[s][c]
            if best is None:
                break
            idx = best
        else:
            break
    return idx


def indistinct_blocks(table: Sequence[Sequence[float]], n_choices: int, *, within: float = 0.02) -> list[int]:
    """Blocks whose first ``n_choices`` ops (the kernel/expand candidates,
    not the zero op) are priced within ``within`` (a fraction) of each other."""
    out = []
    for s, row in enumerate(table):
        r = np.asarray(row[:n_choices], float)
        if len(r) and r.max() > 0 and (r.max() - r.min()) / r.max() < within:
            out.append(s)
    return out
