"""The accuracy predictor of the ``evolution`` technique: sub-nets scored with
the super-net, how repeatable that score is, and the predictor fitted on them.

A sub-net's score is its accuracy on the validation split after BN
re-calibration. Two things make it noisy: the few hundred training images that
re-calibrate the batch norms, and the validation images themselves (on MNIST
sub-nets differ by ~1 %, a few images' worth). :func:`repeatability` measures
the first by scoring the held-out sub-nets a second time with other
re-calibration images, and the second by comparing two disjoint halves of the
validation images; a predictor's rank correlation with held-out scores cannot be
expected above what the scores reach against themselves.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..ranking import spearman
from ..reporter import Reporter
from ..search import AccuracyPredictor
from ..supernet import MBConvSuperNet, NasData, evaluate_subnet_images

__all__ = ["score_subnets", "repeatability", "fit_accuracy_predictor", "RESCORE_SEED"]

#: BN re-calibration seeds of a second scoring start here (the first uses 0, 1, 2, ...)
RESCORE_SEED = 1_000_003
#: training-set fractions of the "how it changes with the number of samples" curves
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def score_subnets(net: MBConvSuperNet, archs: Sequence[dict[str, Any]], data: NasData, *, bn_images: int,
                  eval_images: int | None, seed: int = 0,
                  progress: Callable[[int, float], None] | None = None) -> np.ndarray:
    """A boolean matrix (sub-net, validation image): classified correctly.
    Sub-net ``i`` re-calibrates its batch norms on training images drawn with
    seed ``seed + i``; every sub-net sees the same validation images."""
    rows = []
    for i, a in enumerate(archs):
        rows.append(evaluate_subnet_images(net, a, data, split="val", bn_images=bn_images, limit=eval_images,
                                           seed=seed + i).numpy())
        if progress is not None:
            progress(i, float(rows[-1].mean()))
    return np.stack(rows) if rows else np.zeros((0, 0), dtype=bool)


def repeatability(first: np.ndarray, second: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """How well two scorings of the same sub-nets (boolean matrices, sub-net x
    image, from other BN re-calibration images) agree:

    - ``eval_repeatability_spearman``: rank correlation of the two accuracies
      (the same validation images): the ceiling for a predictor's held-out
      Spearman against one scoring;
    - ``eval_noise_rmse``: standard deviation of one scoring around the mean of
      many (the RMSE even a perfect predictor shows against these targets);
    - ``eval_halves_spearman``: rank correlation of the accuracy on one random
      half of the validation images (first scoring) with the other half (second
      scoring): how much the choice of images alone moves the ranking.
    """
    a, b = first.mean(1), second.mean(1)
    half = np.random.default_rng(seed).permutation(first.shape[1])
    h1, h2 = half[: len(half) // 2], half[len(half) // 2:]
    return {"eval_repeatability_spearman": spearman(a, b),
            "eval_noise_rmse": float(np.std(a - b) / np.sqrt(2)) if len(a) else float("nan"),
            "eval_halves_spearman": spearman(first[:, h1].mean(1), second[:, h2].mean(1)),
            "eval_repeat_subnets": int(len(a))}


def fit_accuracy_predictor(space, archs: list[dict[str, Any]], acc: np.ndarray, *, holdout: float, epochs: int,
                           seed: int, reporter: Reporter | None = None, ceiling: dict[str, float] | None = None,
                           n_test: int | None = None) -> tuple[AccuracyPredictor, dict[str, float]]:
    """Train on all but the first ``n_test`` (default: the ``holdout``
    fraction) sub-nets; report RMSE and rank correlation on those, and how they
    change with the number of training sub-nets (series, beside the
    evaluation's own repeatability when ``ceiling`` is given). Returns the
    predictor trained on the full training part and the figures."""
    x = space.encode_many(archs)
    if n_test is None:
        n_test = max(3, int(round(len(archs) * holdout)))
    xtr, ytr, xte, yte = x[n_test:], acc[n_test:], x[:n_test], acc[:n_test]
    report: dict[str, float] = {}
    p = None
    for frac in FRACTIONS:
        n = max(4, int(round(len(xtr) * frac)))
        p = AccuracyPredictor(space.encoding_size).fit_data(xtr[:n], ytr[:n], epochs=epochs, seed=seed)
        r = p.report(xte, yte, n_train=n)
        if reporter is not None:
            reporter.series("predictor rank correlation on held-out sub-nets/Spearman", n, r.spearman)
            reporter.series("predictor rank correlation on held-out sub-nets/Kendall tau", n, r.kendall_tau)
            reporter.series("predictor RMSE on held-out sub-nets/predictor", n, r.rmse)
            if ceiling:
                reporter.series("predictor rank correlation on held-out sub-nets/evaluation repeatability "
                                "(ceiling)", n, ceiling["eval_repeatability_spearman"])
                reporter.series("predictor RMSE on held-out sub-nets/evaluation noise (floor)", n,
                                ceiling["eval_noise_rmse"])
        report = {"predictor_rmse": r.rmse, "predictor_spearman": r.spearman, "predictor_kendall_tau": r.kendall_tau,
                  "predictor_train": n, "predictor_test": n_test}
    return p, report
