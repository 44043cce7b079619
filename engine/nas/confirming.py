"""Search winners checked the way a reviewer would check them.

A constrained search ranks architectures by *predicted* accuracy and keeps
those whose *estimated* latency is under the limit. Neither is the claim:

- latency: every winner is re-priced on the profile's most trusted source
  (measured on this machine where the profile is this machine, else the best
  table or model there is, ``latency_for(..., purpose="final")``); one that
  breaks the limit there is replaced by the next best that holds;
- accuracy: several winners per method are evaluated on the super-net (BN
  re-calibrated, the validation split), so one noisy draw does not decide,
  and the methods are compared on that, with a bootstrap confidence interval
  (:mod:`engine.ranking`) and the predicted figure beside it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Hashable

import numpy as np

from ..hardware.latency import LatencyEstimate
from ..ranking import mean_difference_ci, spearman, spearman_ci
from ..search import SearchRun

__all__ = ["Checked", "Confirmation", "ranked_distinct", "confirm_winners", "compare_checked", "headline"]


@dataclass
class Checked:
    """One winner after its check."""
    index: int  # into the search run's evaluations
    arch: dict[str, Any]
    predicted_accuracy: float
    predicted_latency_ms: float
    latency_ms: float
    latency_source: str
    within_limit: bool
    supernet_accuracy: float | None = None

    def metrics(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("arch")
        d.pop("index")
        return d


def ranked_distinct(run: SearchRun, key: Callable[[dict[str, Any]], Hashable]) -> list[int]:
    """Indices of ``run``'s feasible evaluations by predicted fitness, best
    first, one per network (genomes that differ only in skipped slots, and
    survivors evaluated again, are one network)."""
    fit = np.asarray(run.fitness, float)
    order = np.argsort(-fit, kind="stable")
    out, seen = [], set()
    for i in order:
        if not np.isfinite(fit[i]):
            break
        k = key(run.archs[i])
        if k not in seen:
            seen.add(k)
            out.append(int(i))
    return out


@dataclass
class Confirmation:
    """What :func:`confirm_winners` found."""
    kept: list[Checked]
    broke: list[Checked]
    #: of the ``n`` best by the estimate, how many the trusted source put over the limit
    first_over: int
    #: median trusted / estimated latency over every network checked (1.0 = the estimate was right)
    calibration: float


def confirm_winners(run: SearchRun, *, key: Callable[[dict[str, Any]], Hashable], n: int, limit_ms: float,
                    final_latency: Callable[[list[dict[str, Any]]], list[LatencyEstimate]],
                    accuracy: Callable[[dict[str, Any]], float], max_rounds: int = 4) -> Confirmation:
    """The best ``n`` networks of ``run`` whose latency on the trusted source
    holds ``limit_ms``, each also scored by ``accuracy`` (the super-net).

    ``final_latency`` prices a list of architectures at once (a measurement
    interleaves them, so a burst of load spreads over all). The ``n`` best by
    the estimate are priced first; each one over the limit is replaced by the
    next best whose estimate, corrected by the trusted/estimated ratio seen so
    far (a table that sums per-op timings misses what a whole network costs),
    holds the limit; at most ``max_rounds`` rounds."""
    ranked = ranked_distinct(run, key)
    kept: list[Checked] = []
    broke: list[Checked] = []
    ratios: list[float] = []
    first_over, pos = 0, 0
    for round_ in range(max_rounds):
        need = n - len(kept)
        if need <= 0:
            break
        corr = float(np.median(ratios)) if ratios else 1.0
        batch = []
        while pos < len(ranked) and len(batch) < need:
            i = ranked[pos]
            pos += 1
            if round_ == 0 or run.cost[i] * corr <= limit_ms:
                batch.append(i)
        if not batch:
            break
        for i, est in zip(batch, final_latency([run.archs[i] for i in batch])):
            a = run.archs[i]
            c = Checked(i, a, float(run.fitness[i]), float(run.cost[i]), float(est.ms), est.source,
                        bool(est.ms <= limit_ms))
            if run.cost[i] > 0:
                ratios.append(est.ms / run.cost[i])
            if c.within_limit:
                c.supernet_accuracy = float(accuracy(a))
                kept.append(c)
            else:
                broke.append(c)
                first_over += int(round_ == 0)
    kept.sort(key=lambda c: -c.predicted_accuracy)
    return Confirmation(kept, broke, first_over, float(np.median(ratios)) if ratios else 1.0)


def compare_checked(evolution: list[Checked], random: list[Checked], *, seed: int = 0) -> dict[str, Any]:
    """Evolution's checked winners against random search's, on the super-net.

    ``supernet_gap`` is the difference of the mean super-net accuracy of the
    two sets of winners, with a 95 % bootstrap interval; ``supernet_confirms``
    says whether that interval lies above zero (True), below it (False), or
    straddles it (None: no difference shown). ``confirmation_spearman`` is the
    rank correlation of predicted and super-net accuracy over every checked
    winner, with its interval."""
    ev = [c.supernet_accuracy for c in evolution if c.supernet_accuracy is not None]
    rv = [c.supernet_accuracy for c in random if c.supernet_accuracy is not None]
    out: dict[str, Any] = {"winners_checked_evolution": len(ev), "winners_checked_random": len(rv)}
    if not ev or not rv:
        return out
    lo, hi = mean_difference_ci(ev, rv, seed=seed)
    pe = [c.predicted_accuracy for c in evolution]
    pr = [c.predicted_accuracy for c in random]
    out.update({
        "constrained_supernet_acc_evolution": float(np.mean(ev)),
        "constrained_supernet_acc_random": float(np.mean(rv)),
        "constrained_supernet_best_evolution": float(np.max(ev)),
        "constrained_supernet_best_random": float(np.max(rv)),
        "constrained_predicted_acc_evolution": float(np.mean(pe)),
        "constrained_predicted_acc_random": float(np.mean(pr)),
        "supernet_gap": float(np.mean(ev) - np.mean(rv)),
        "supernet_gap_ci_low": lo, "supernet_gap_ci_high": hi,
        "predicted_gap": float(np.mean(pe) - np.mean(pr)),
        "supernet_confirms": (True if lo > 0 else False if hi < 0 else None) if np.isfinite(lo) else None,
    })
    pred = pe + pr
    true = ev + rv
    rho = spearman(pred, true)
    out["confirmation_spearman"] = rho if np.isfinite(rho) else None
    if np.isfinite(rho):
        out["confirmation_spearman_ci_low"], out["confirmation_spearman_ci_high"] = spearman_ci(pred, true,
                                                                                               seed=seed)
    return out


def headline(cmp: dict[str, Any], *, limit_ms: float, over: int, n: int, source: str) -> str:
    """``over``: how many of the ``n`` best (per method, summed) broke the limit on ``source``."""
    """The summary's first sentence for a constrained search."""
    if "supernet_gap" not in cmp:
        return f"no winner held {limit_ms:.2f} ms on the {source} latency"
    e, r = cmp["constrained_supernet_acc_evolution"], cmp["constrained_supernet_acc_random"]
    pe, pr = cmp["constrained_predicted_acc_evolution"], cmp["constrained_predicted_acc_random"]
    lo, hi = cmp["supernet_gap_ci_low"], cmp["supernet_gap_ci_high"]
    verdict = {True: "the super-net confirms evolution's advantage",
               False: "the super-net does NOT confirm the prediction: random search's winners are better",
               None: "the super-net shows no difference the winners' spread can tell apart"}[cmp["supernet_confirms"]]
    if cmp["supernet_confirms"] is None and cmp["predicted_gap"] > 0:
        verdict += ", though the predictor favoured evolution"
    text = (f"under {limit_ms:.2f} ms ({source}), the best {cmp['winners_checked_evolution']} winners on the "
            f"super-net: evolution {e:.4f} vs random search {r:.4f} (gap {e - r:+.4f}, 95 % CI "
            f"{lo:+.4f} to {hi:+.4f}; predicted {pe:.4f} vs {pr:.4f}): {verdict}")
    if over:
        text += (f"; {over} of the {n} best by the estimate broke the limit on the {source} latency and were "
                 "replaced by the next best that holds")
    return text
