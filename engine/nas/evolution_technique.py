"""The ``evolution`` technique: accuracy predictor from super-net sub-nets, then
evolutionary search under a latency constraint (or an NSGA-II front) on the
chosen profile, with random search beside it at equal evaluations."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import ConfigBase, param
from ..hardware import HardwareProfile
from ..hardware.latency import SEARCH_SOURCES, latency_for
from ..ranking import spearman, spearman_ci
from ..reporter import Reporter, Summary
from ..search import HAT_SETTINGS, OFA_SETTINGS, EvolutionSettings, SearchRun, comparison
from ..supernet import (VAL_LIMIT, CheckpointError, evaluate_subnet, list_checkpoints, load_checkpoint,
                        load_nas_data)
from .common import Finalist, finish_candidates, lut_cache_dir, lut_progress
from .confirming import compare_checked, confirm_winners, headline
from .predicting import RESCORE_SEED, fit_accuracy_predictor, repeatability, score_subnets
from .searching import compare_constrained, constrained_search, front_search, reference_point
from .supernet_technique import SupernetConfig, run_supernet

__all__ = ["EvolutionConfig", "run_evolution", "checkpoint_error", "fit_accuracy_predictor"]

PRESETS = ("once-for-all", "hat", "custom")
#: checkpoint value that trains a tiny super-net first (quick looks and smoke tests)
FRESH = "fresh-tiny"


def trained_checkpoints() -> list:
    """Super-nets trained by 'supernet' runs, newest first. The tiny one that
    ``fresh-tiny`` retrains on each use is left out: it is never "the newest"."""
    return [c for c in list_checkpoints() if c.name != FRESH]


def checkpoint_options() -> list[tuple[str, str]]:
    """The checkpoints a search can start from, newest first, for a drop-down."""
    found = trained_checkpoints()
    newest = f"the newest ({found[0].label})" if found else "the newest (none trained yet)"
    return ([("", newest)] + [(c.name, c.label) for c in found]
            + [(FRESH, f"{FRESH} (train a tiny super-net here first, for a quick look)")])


def checkpoint_error(name: str) -> str | None:
    """A message when ``name`` is not an available checkpoint ('' = the newest)."""
    if name == FRESH:
        return None
    available = [c.name for c in trained_checkpoints()]
    if not available:
        return ("no super-net checkpoint yet: train one with the 'supernet' technique first "
                f"(or enter '{FRESH}' to train a tiny one here, for a quick look)")
    if name and name not in available:
        return f"unknown checkpoint {name!r}; available: {', '.join(available[:20])}"
    return None


@dataclass(frozen=True)
class EvolutionConfig(ConfigBase):
    checkpoint: str = param("", help="Super-net checkpoint (from a 'supernet' run); empty = the newest; "
                            f"'{FRESH}' trains a tiny one (8- and 16-channel stages, 16 px, one epoch) first",
                            max_length=80, options=checkpoint_options)
    mode: str = param("constrained", help="constrained: best accuracy under the latency limit; "
                      "front: the whole accuracy-latency front (NSGA-II)", choices=("constrained", "front"))
    latency_limit_ms: float = param(0.0, help="Latency constraint in ms (0 = the median of random sub-nets)",
                                    min=0.0, max=1e5)
    latency_margin: float = param(0.0, help="Safety margin: the search keeps sub-nets whose estimated latency is "
                                  "under limit x (1 - margin); its winners are then checked against the limit "
                                  "itself on the most trusted source (measured, where the profile is this machine)",
                                  min=0.0, max=0.5)
    winners_checked: int = param(5, help="Constrained mode: the best winners of evolution and of random search "
                                 "re-priced on the most trusted latency source (one over the limit is replaced by "
                                 "the next best) and evaluated on the super-net; the headline compares them there",
                                 min=1, max=50)
    latency_source: str = param("auto", help="auto: the profile's best source a search can afford (a measured "
                                "lookup table on this machine, else the roofline)", choices=SEARCH_SOURCES)
    preset: str = param("once-for-all", help="once-for-all: population 100, parent ratio 0.25, mutation ratio "
                        "0.5, gene probability 0.1; hat: population 125, 25 parents, 50 mutations, 50 crossovers, "
                        "gene probability 0.3, 30 generations; custom: the fields below", choices=PRESETS)
    generations: int = param(500, help="Generations (once-for-all's default: 500; ignored by the hat preset)",
                             min=1, max=2000)
    population: int = param(100, help="Population (custom preset)", min=4, max=2000)
    parent_ratio: float = param(0.25, help="Fraction kept as parents (custom)", min=0.01, max=0.9)
    mutation_ratio: float = param(0.5, help="Fraction of children by mutation, the rest by crossover (custom)",
                                  min=0.0, max=0.99)
    mutate_prob: float = param(0.1, help="Probability that each gene mutates (custom)", min=0.0, max=1.0)
    predictor_samples: int = param(300, help="Sub-nets evaluated to train the accuracy predictor (about 0.2 s each "
                                   "on one core with the default super-net)", min=10, max=20000)
    predictor_holdout: float = param(0.25, help="Fraction of those held out to report RMSE and rank correlation",
                                     min=0.1, max=0.5)
    predictor_epochs: int = param(150, help="Predictor training epochs", min=1, max=2000)
    eval_images: int = param(0, help="Validation images per sub-net evaluation (0 = the whole validation split)",
                             min=0, max=100000, advanced=True)
    bn_images: int = param(256, help="Training images that re-calibrate each sub-net's batch norms before it is "
                           "evaluated", min=16, max=100000, advanced=True)
    repeat_holdout: bool = param(True, help="Evaluate the held-out sub-nets a second time (other BN re-calibration "
                                 "images) to measure the evaluation's repeatability: the ceiling for the "
                                 "predictor's rank correlation", advanced=True)
    front_evaluated: int = param(12, help="Front mode: every front point is reported with its predicted accuracy; "
                                 "this many of them, spread along the front, also get their super-net accuracy "
                                 "(BN re-calibrated, validation split)", min=0, max=200)
    finetune: int = param(2, help="Winners fine-tuned, measured and exported (ONNX, TorchScript)", min=0, max=10)
    finetune_epochs: int = param(1, help="Fine-tuning epochs of each winner", min=0, max=100)
    seed: int = param(0, help="Random seed", min=0, max=2**31 - 1)

    def settings(self) -> EvolutionSettings:
        if self.preset == "hat":
            return HAT_SETTINGS
        if self.preset == "once-for-all":
            return EvolutionSettings(OFA_SETTINGS.population_size, OFA_SETTINGS.parent_ratio,
                                     OFA_SETTINGS.mutation_ratio, OFA_SETTINGS.mutate_prob, self.generations)
        return EvolutionSettings(self.population, self.parent_ratio, self.mutation_ratio, self.mutate_prob,
                                 self.generations)

    def check(self) -> dict[str, str]:
        errors = {}
        msg = checkpoint_error(self.checkpoint)
        if msg:
            errors["checkpoint"] = msg
        if 0 < self.eval_images < 50:
            errors["eval_images"] = "0 (the whole validation split) or at least 50"
        if self.preset == "custom" and self.parent_ratio + self.mutation_ratio > 1.0:
            errors["mutation_ratio"] = "parent ratio + mutation ratio must be at most 1"
        return errors


def _score(net, archs, data, config: EvolutionConfig, reporter: Reporter, *, seed: int, lo: float, hi: float,
           what: str) -> np.ndarray:
    def tick(i: int, acc: float) -> None:
        reporter.progress(lo + (hi - lo) * (i + 1) / len(archs), f"{what} {i + 1}/{len(archs)}: {acc:.3f}")
    return score_subnets(net, archs, data, bn_images=config.bn_images, eval_images=config.eval_images or None,
                         seed=seed, progress=tick)


def run_evolution(config: EvolutionConfig, hardware: HardwareProfile, reporter: Reporter) -> Summary:
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    if config.checkpoint == FRESH:
        reporter.progress(0.0, "training a tiny super-net first")
        run_supernet(SupernetConfig(widths=(8, 16), resolutions=(16,), head_width=16, epochs=1, train_limit=256,
                                    eval_subnets=0, name=FRESH, seed=config.seed),
                     hardware, Reporter(reporter.workdir / "fresh-supernet"))
    ckpt = config.checkpoint
    if not ckpt:
        available = trained_checkpoints()
        if not available:  # checked when the config was parsed, but the cache may have changed since
            raise CheckpointError("no super-net checkpoint yet: train one with the 'supernet' technique first "
                                  f"(or set the checkpoint to '{FRESH}' for a quick look)")
        ckpt = available[0].name
    reporter.progress(0.0, f"loading super-net '{ckpt}'")
    net, meta = load_checkpoint(ckpt)
    space = net.space
    dataset = meta.get("dataset", "mnist-5k")
    data = load_nas_data(dataset, resolution=int(meta.get("resolution", max(space.resolutions))),
                         in_channels=net.in_channels, train_limit=meta.get("train_limit") or None,
                         val_limit=meta.get("val_limit", VAL_LIMIT), seed=int(meta.get("seed", 0)))
    problem = net.problem
    est = latency_for(hardware, space=space, problem=problem, source=config.latency_source,
                      cache_dir=lut_cache_dir(), progress=lut_progress(reporter))
    latency = est.estimate_ms_many

    checked: dict[Any, float] = {}

    def supernet_accuracy(arch: dict[str, Any]) -> float:
        """Super-net accuracy (BN re-calibrated), once per network: winners are
        often front points or the search's best, already checked."""
        key = space.network_key(arch)
        if key not in checked:
            checked[key] = evaluate_subnet(net, arch, data, split="val", bn_images=config.bn_images,
                                           limit=config.eval_images or None)
        return checked[key]

    # 1. accuracy predictor from sub-nets evaluated with BN re-calibration; the
    #    held-out ones scored twice to show how repeatable the targets are
    archs = space.sample_distinct(rng, config.predictor_samples)
    n_test = max(3, int(round(len(archs) * config.predictor_holdout)))
    correct = _score(net, archs, data, config, reporter, seed=0, lo=0.05, hi=0.4, what="evaluated sub-net")
    acc = correct.mean(1)
    ceiling: dict[str, float] = {}
    targets = acc.copy()
    if config.repeat_holdout:
        again = _score(net, archs[:n_test], data, config, reporter, seed=RESCORE_SEED, lo=0.4, hi=0.5,
                       what="held-out sub-net scored again")
        ceiling = repeatability(correct[:n_test], again, seed=config.seed)
        targets[:n_test] = (acc[:n_test] + again.mean(1)) / 2  # the final fit gets the better estimate
    predictor, pred_report = fit_accuracy_predictor(space, archs, acc, holdout=config.predictor_holdout,
                                                    epochs=config.predictor_epochs, seed=config.seed,
                                                    reporter=reporter, ceiling=ceiling, n_test=n_test)
    predictor.fit_data(space.encode_many(archs), targets, epochs=config.predictor_epochs, seed=config.seed)
    accuracy = lambda a: predictor.predict(space.encode_many(a))  # noqa: E731
    rho_ceiling = ceiling.get("eval_repeatability_spearman")
    reporter.progress(0.55, f"predictor: RMSE {pred_report['predictor_rmse']:.4f}, Spearman "
                      f"{pred_report['predictor_spearman']:.2f} on {n_test} held-out sub-nets"
                      + (f" (the evaluation repeats with Spearman {rho_ceiling:.2f})" if rho_ceiling else ""))

    # 2. search, with random search beside it at equal evaluations
    limit = config.latency_limit_ms or float(np.median(latency(space.sample_many(rng, 200))))
    settings = config.settings()
    gens = settings.generations
    constrained = config.mode == "constrained"
    ref = None if constrained else reference_point(space, accuracy, latency, np.random.default_rng(config.seed + 7))
    name = "evolution" if constrained else "NSGA-II"

    def on_gen(g: int, er: SearchRun, rr: SearchRun) -> None:
        e, r = er.best_fitness[-1], rr.best_fitness[-1] if rr.best_fitness else -np.inf
        if constrained:  # best predicted accuracy under the limit
            if e > -np.inf:
                reporter.series(f"best fitness per generation/{name}", g + 1, e)
            if r > -np.inf:
                reporter.series("best fitness per generation/random search", g + 1, r)
            if e > -np.inf and r > -np.inf:
                reporter.series("predicted accuracy gap, evolution minus random search/gap", g + 1, e - r)
        else:  # a front: its hypervolume (best fitness = the most accurate point at any latency)
            reporter.series(f"best fitness per generation/{name}", g + 1, e)
            reporter.series("best fitness per generation/random search", g + 1, r)
            reporter.series(f"hypervolume/{name}", g + 1, er.hypervolume[-1])
            reporter.series("hypervolume/random search", g + 1, rr.hypervolume[-1])
        reporter.progress(0.55 + 0.2 * (g + 1) / gens, f"generation {g + 1}/{gens}")

    ts = time.perf_counter()
    search_metrics: dict[str, Any] = {}
    if constrained:
        search_limit = limit * (1.0 - config.latency_margin)
        er, rr = constrained_search(space, accuracy, latency, limit_ms=search_limit, settings=settings, rng=rng,
                                    random_rng=np.random.default_rng(config.seed + 1), on_generation=on_gen)
        search_metrics = compare_constrained(er, rr)
        # the claim checked: winners re-priced on the most trusted source against the limit itself,
        # and several per method evaluated on the super-net
        final = latency_for(hardware, space=space, problem=problem, purpose="final", cache_dir=lut_cache_dir(),
                            measure={"warmup": 2, "repeats": 10, "rounds": 3})
        confirmed = {}
        for n_run, (how, run) in enumerate((("evolution", er), ("random", rr))):
            reporter.progress(0.75 + 0.025 * n_run, f"checking {how}'s winners: {final.source} latency, "
                              "super-net accuracy")
            confirmed[how] = confirm_winners(run, key=space.network_key, n=config.winners_checked, limit_ms=limit,
                                           final_latency=final.estimate_many, accuracy=supernet_accuracy)
        search_metrics.update(compare_checked(confirmed["evolution"].kept, confirmed["random"].kept,
                                              seed=config.seed))
        search_metrics.update(
            winner_measured_over_limit=sum(c.first_over for c in confirmed.values()),
            winners_over_limit_replaced=sum(len(c.broke) for c in confirmed.values()),
            trusted_latency_source=final.source, search_limit_ms=search_limit, latency_margin=config.latency_margin,
            trusted_over_estimated_latency=float(np.median([c.calibration for c in confirmed.values()])))
        for how, conf in confirmed.items():
            for c in conf.kept + conf.broke:
                reporter.candidate(space.structure(c.arch), {
                    "accuracy": c.supernet_accuracy if c.within_limit else c.predicted_accuracy,
                    "accuracy_source": "supernet" if c.within_limit else "predictor",
                    "predicted_accuracy": c.predicted_accuracy, "supernet_accuracy": c.supernet_accuracy,
                    "latency_ms": c.latency_ms, "latency_source": c.latency_source,
                    "predicted_latency_ms": c.predicted_latency_ms, "predicted_latency_source": est.source,
                    "latency_limit_ms": limit, "within_limit": c.within_limit, "search": how,
                    "stage": "checked winner" if c.within_limit else "winner over the limit, replaced"})
        picks = [(c.arch, "evolution") for c in confirmed["evolution"].kept]
        picks_random = [(c.arch, "random") for c in confirmed["random"].kept[:1]]
    else:
        er, rr = front_search(space, accuracy, latency, population=settings.population_size, generations=gens,
                              mutate_prob=settings.mutate_prob, rng=rng,
                              random_rng=np.random.default_rng(config.seed + 1), ref=ref,
                              limit_ms=config.latency_limit_ms or None, on_generation=on_gen)
        front = er.front(key=space.network_key)
        spread: set[int] = set()
        if front and config.front_evaluated:
            k = min(config.front_evaluated, len(front))
            spread = {int(round(j)) for j in np.linspace(0, len(front) - 1, k)}
        inherited: list[float] = []
        for n, i in enumerate(front):
            a = er.archs[i]
            metrics: dict[str, Any] = {"accuracy": er.fitness[i], "accuracy_source": "predictor",
                                       "predicted_accuracy": er.fitness[i], "latency_ms": er.cost[i],
                                       "latency_source": est.source, "search": "nsga2", "front_rank": n}
            if n in spread:
                metrics["supernet_accuracy"] = supernet_accuracy(a)
                inherited.append(metrics["supernet_accuracy"])
            reporter.candidate(space.structure(a), metrics)
            reporter.progress(0.75 + 0.05 * (n + 1) / len(front), f"front point {n + 1}/{len(front)}")
        take = np.linspace(0, len(front) - 1, min(config.finetune, len(front))).round().astype(int) if front else []
        picks = [(er.archs[front[j]], "nsga2") for j in sorted(set(int(t) for t in take))]
        picks_random = []
        search_metrics = {"front_size": len(front), "front_evaluated": len(inherited),
                          "hypervolume_nsga2": er.hypervolume[-1], "hypervolume_random": rr.hypervolume[-1],
                          "hypervolume_ratio": comparison(er, rr)["hypervolume_ratio"]}
        if len(inherited) >= 3:  # does the super-net agree with the predictor along the front?
            pred = [er.fitness[front[j]] for j in sorted(spread)]
            rho = spearman(pred, inherited)
            search_metrics["front_supernet_spearman"] = rho if np.isfinite(rho) else None
            if np.isfinite(rho):
                lo, hi = spearman_ci(pred, inherited, seed=config.seed)
                search_metrics.update(front_supernet_spearman_ci_low=lo, front_supernet_spearman_ci_high=hi)
    search_s = time.perf_counter() - ts

    # 3. winners: fine-tune, then measure together (interleaved), export
    chosen = picks[:config.finetune] + (picks_random if config.finetune else [])
    finalists = [Finalist(net.extract(arch), arch, f"{how}-{n + 1}",
                          {"predicted_accuracy": float(accuracy([arch])[0]), "supernet_accuracy": supernet_accuracy(arch),
                           "search": how, "latency_limit_ms": limit})
                 for n, (arch, how) in enumerate(chosen)]

    def finetune_progress(n: int):  # winner n's fine-tuning, as a share of the last fifth of the bar
        def progress(frac: float, msg: str, metrics: dict | None = None) -> None:
            reporter.progress(0.8 + 0.19 * (n + frac) / len(finalists),
                              f"fine-tuning winner {n + 1}/{len(finalists)}: {msg}")
        progress(0.0, "starting")
        return progress
    results = finish_candidates(finalists, space, problem, data, profile=hardware, estimator=est, reporter=reporter,
                                epochs=config.finetune_epochs, lr=0.01, seed=config.seed, progress=finetune_progress,
                                technique="evolution")
    metrics: dict[str, Any] = {**pred_report, **ceiling, **search_metrics, "latency_limit_ms": limit,
                               "latency_source": est.source, "evaluations": len(er.archs),
                               "search_wall_s": search_s, "wall_s": time.perf_counter() - t0, "checkpoint": ckpt,
                               "dataset": dataset}
    if results:
        metrics["best_accuracy"] = results[0]["accuracy"]
        metrics["best_latency_ms"] = results[0]["latency_ms"]
    reporter.progress(1.0, "done")
    pred_line = (f"predictor Spearman {pred_report['predictor_spearman']:.2f} on {n_test} held-out sub-nets"
                 + (f" (evaluation repeatability {rho_ceiling:.2f})" if rho_ceiling else ""))
    if constrained:
        sm = search_metrics
        head = headline(sm, limit_ms=limit, over=sm["winner_measured_over_limit"], n=2 * config.winners_checked,
                        source=sm["trusted_latency_source"]) + f", at {len(er.archs)} evaluations each"
        if config.latency_margin:
            head += f" (searched under {search_limit:.2f} ms: a {config.latency_margin:.0%} margin)"
    else:
        sm = search_metrics
        head = (f"front of {sm['front_size']} points; hypervolume vs random search "
                f"x{sm['hypervolume_ratio'] or 0:.2f} at {len(er.archs)} evaluations each")
        if sm.get("front_supernet_spearman") is not None:
            rho = sm["front_supernet_spearman"]
            lo, hi = sm.get("front_supernet_spearman_ci_low"), sm.get("front_supernet_spearman_ci_high")
            ci = f"95 % CI {lo:.2f} to {hi:.2f}, " if lo is not None and np.isfinite(lo) else ""
            head += (f"; on the super-net the front's predicted order holds with Spearman {rho:.2f} ({ci}"
                     f"{sm['front_evaluated']} points)")
            if ci and lo <= 0:
                head += ": NOT confirmed, the interval reaches zero"
    # a super-net trained on a fallback dataset says so first (e.g. Fashion-MNIST not installed)
    note = f"{meta['dataset_note']}; " if meta.get("dataset_note") else ""
    return Summary(f"{note}{head}; {pred_line} ({dataset})", metrics)
