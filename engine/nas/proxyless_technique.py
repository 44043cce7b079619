"""The ``proxylessnas`` technique: differentiable search over the MBConv space
with path binarisation and a lookup-table latency loss (Cai et al., 2019)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ..config import ConfigBase, param
from ..data import DATASETS, choose_dataset
from ..hardware import HardwareProfile
from ..hardware.latency import SEARCH_SOURCES, latency_for
from ..reporter import Reporter, Summary
from ..supernet import load_nas_data, recalibrate_bn, subnet_accuracy
from ..training import StepOutput, make_loader, train_model
from ..hardware.measure import measure_many
from .baselines import GRIDS, best_at_latency, fit_to_target, indistinct_blocks, train_uniform, uniform_archs
from .common import Finalist, finish_candidates, lut_cache_dir, lut_progress
from .proxyless import WEIGHT_SHARING, ArchStep, ProxylessSuperNet, block_latency_table
from .supernet_technique import space_from_config

__all__ = ["ProxylessConfig", "run_proxyless", "ProxylessTrainer"]


@dataclass(frozen=True)
class ProxylessConfig(ConfigBase):
    dataset: str = param("mnist-5k", help="Dataset", choices=DATASETS)
    widths: tuple[int, ...] = param((16, 24, 32, 48), help="Channels of each stage", min=8, max=256, min_items=2,
                                    max_items=6)
    resolution: int = param(28, help="Input resolution searched at (pixels)", min=16, max=64)
    head_width: int = param(128, help="Channels of the final 1x1 convolution", min=16, max=1280)
    in_channels: int = param(1, help="Image channels (MNIST is grey: 1)", choices=(1, 3))
    weight_sharing: str = param("elastic", help="elastic: the kernel and expand candidates of a block share one "
                                "elastic block's weights (once-for-all style; trains in minutes here); separate: "
                                "each candidate has its own weights, as in the paper (needs tens of epochs of "
                                "warm-up before its paths learn)", choices=WEIGHT_SHARING)
    epochs: int = param(8, help="Search epochs (weights and architecture parameters)", min=1, max=200)
    warmup_fraction: float = param(0.3, help="Fraction of steps training weights only before architecture updates",
                                   min=0.0, max=0.9)
    arch_every: int = param(2, help="Architecture update every this many weight steps (the reference: 5, over "
                            "tens of thousands of steps; a run here has a few hundred)", min=1, max=100)
    arch_lr: float = param(0.1, help="Adam learning rate of the architecture parameters (beta1 = 0); the "
                           "reference's 6e-3 is meant for tens of thousands of updates, a run here makes ~175",
                           min=1e-5, max=1.0)
    lr: float = param(0.1, help="SGD learning rate of the weights (also of the derived network's fine-tuning)",
                      min=1e-5, max=1.0)
    latency_loss: str = param("mul", help="mul: CE x (log E[lat] / log T)^beta; add: CE + lambda x E[lat] / T",
                              choices=("mul", "add"))
    beta: float = param(0.3, help="Exponent of the multiplicative latency loss", min=0.0, max=5.0)
    lam: float = param(0.1, help="Weight of the additive latency loss", min=0.0, max=100.0)
    target_ms: float = param(0.0, help="Latency target T in ms (0 = the median of random sub-nets)", min=0.0,
                             max=1e5)
    latency_source: str = param("auto", help="Lookup table for the expected latency (auto: measured on this "
                                "machine, else the roofline per op)", choices=SEARCH_SOURCES)
    batch_size: int = param(32, help="Batch size", min=8, max=1024)
    train_limit: int = param(2000, help="Training images (0 = all)", min=0, max=1_000_000)
    finetune_epochs: int = param(3, help="Fine-tuning epochs of the derived network", min=0, max=100)
    fit_target: bool = param(True, help="Make the derived network meet the target: from the most likely op per "
                             "block, move to cheaper ops while over it, to dearer ones while more than the tolerance "
                             "under it (re-checked on the measured latency where the profile is this machine)")
    target_tolerance: float = param(0.1, help="How far under the target the derived network may stay (a fraction)",
                                    min=0.01, max=0.5)
    baselines: str = param("grid", help="Uniform baselines trained from scratch with the same budget (search + "
                           "fine-tuning epochs): grid: every kernel x expand at the smallest and largest depth; "
                           "corners: only the smallest and largest kernel x expand; none", choices=GRIDS)
    baseline_widths: tuple[float, ...] = param((1.0,), help="Width multipliers of the uniform baselines",
                                               min=0.25, max=2.0, min_items=1, max_items=4)
    seed: int = param(0, help="Random seed", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        if self.resolution % 4:
            return {"resolution": "must be a multiple of 4"}
        return {}


class ProxylessTrainer:
    """``before_step`` (architecture updates, path sampling) and ``step`` for :func:`engine.training.fit`."""

    def __init__(self, net: ProxylessSuperNet, arch_step: ArchStep | None, val: tuple[torch.Tensor, torch.Tensor],
                 rng: np.random.Generator, *, arch_every: int, start: int, batch_size: int,
                 on_arch: Any = None):
        self.net, self.arch_step, self.rng = net, arch_step, rng
        self.val_x, self.val_y = val
        self.arch_every, self.start, self.batch_size = arch_every, start, batch_size
        self.on_arch = on_arch
        self.updates = 0

    def before_step(self, g: int) -> None:
        if self.arch_step is not None and g >= self.start and (g - self.start) % self.arch_every == 0:
            idx = torch.from_numpy(self.rng.choice(len(self.val_y), size=min(self.batch_size, len(self.val_y)),
                                                   replace=False))
            info = self.arch_step(self.val_x[idx], self.val_y[idx])
            self.updates += 1
            if self.on_arch is not None:
                self.on_arch(g, self.updates, info)
        self.net.binarize(self.rng, two=False)
        self.net.set_mode("weight")

    def step(self, model: ProxylessSuperNet, batch: Any) -> StepOutput:
        x, y = batch
        logits = model(x)
        return StepOutput(loss=F.cross_entropy(logits, y), metrics={"correct": float((logits.argmax(1) == y).sum())},
                          count=len(y))


def run_proxyless(config: ProxylessConfig, hardware: HardwareProfile, reporter: Reporter) -> Summary:
    t0 = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    resolutions = tuple(sorted({config.resolution}))
    space = space_from_config(config.widths, resolutions, config.head_width)
    choice = choose_dataset(config.dataset)  # a dataset that is not installed falls back, and the page says so
    reporter.progress(0.0, choice.note or f"loading {choice.name}")
    data = load_nas_data(choice.name, resolution=config.resolution, in_channels=config.in_channels,
                         train_limit=config.train_limit or None, seed=config.seed)
    net = ProxylessSuperNet(space, config.resolution, data.num_classes, config.in_channels,
                            weight_sharing=config.weight_sharing)
    problem = net.problem
    est = latency_for(hardware, space=space, problem=problem, source=config.latency_source,
                      cache_dir=lut_cache_dir(), progress=lut_progress(reporter))
    # per-op costs for the expected latency: the table's (or roofline's) own; a
    # predictor scores whole networks only, so its ops are priced by the roofline
    per_op = est if est.prices_ops else latency_for(hardware, space=space, problem=problem, source="roofline")
    priced = per_op.problem or problem  # an attached table built for another head prices with its own keys
    ops = {op.key: op for op in space.all_ops(priced)}
    table, fixed = block_latency_table(space, net, lambda key: per_op.op_ms(ops[key]), problem=priced)
    target = config.target_ms or float(np.median(est.estimate_ms_many(space.sample_many(rng, 200))))
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=config.arch_lr, betas=(0.0, 0.999), eps=1e-8)
    arch_step = ArchStep(net, arch_opt, table, fixed, target, rng, mode=config.latency_loss, beta=config.beta,
                         lam=config.lam)
    train_data = TensorDataset(data.x["train"], data.y["train"])
    total = config.epochs * len(make_loader(train_data, batch_size=config.batch_size, drop_last=True))
    start = int(config.warmup_fraction * total)
    report_every = max(1, (total - start) // config.arch_every // 25)

    def on_arch(step: int, n: int, info: dict[str, float]) -> None:
        reporter.series("expected latency (ms)", step, info["expected_latency_ms"])
        reporter.series("loss/architecture", step, info["arch_loss"])
        if n % report_every == 0:
            for s, probs in enumerate(net.probabilities()):
                for c, p in enumerate(probs):
                    reporter.series(f"op probabilities, block {s + 1:02d}/{net.op_name(s, c)}", step, p)

    trainer = ProxylessTrainer(net, arch_step, (data.x["val"], data.y["val"]), rng, arch_every=config.arch_every,
                               start=start, batch_size=config.batch_size, on_arch=on_arch)

    def progress(frac: float, message: str, metrics: dict[str, float]) -> None:
        reporter.progress(0.05 + 0.7 * frac, message)
        if "epoch" not in metrics:
            reporter.series("loss/weights", frac * total, metrics["loss"])

    train_model(net, train_data, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer="sgd",
                params=net.weight_parameters(), weight_decay=3e-5, seed=config.seed, drop_last=True,
                channels_last=True, grad_clip=5.0, step=trainer.step, before_step=trainer.before_step,
                progress=progress)
    probs = net.probabilities()
    argmax = [int(np.argmax(p)) for p in probs]
    priced = lambda ix: fixed + sum(table[s][c] for s, c in enumerate(ix))  # noqa: E731
    idx, table_target = argmax, target
    final = latency_for(hardware, space=space, problem=problem, purpose="final", cache_dir=lut_cache_dir(),
                        measure={"warmup": 2, "repeats": 10, "rounds": 3})
    checks = 0
    while config.fit_target:
        idx = fit_to_target(argmax, probs, table, fixed, table_target, tolerance=config.target_tolerance)
        if final.source != "measured" or checks >= 3:
            break
        checks += 1  # the table's sum is an estimate: re-check on the measurement, tighten the table's target
        ms = final.estimate_arch(net.derived_arch(idx)).ms
        if ms <= target:
            break
        table_target *= target / ms
    arch, model = net.extract(idx)
    expected = float(net.expected_latency(table, fixed).detach())
    moved = sum(a != b for a, b in zip(idx, argmax))
    # the derived network with the super-net's weights, before fine-tuning
    # (its batch norms re-calibrated: the shared ones averaged many paths)
    r = config.resolution
    recalibrate_bn(model, (x for x, _ in data.batches("train", 128, resolution=r, limit=512, shuffle_seed=0)))
    inherited = subnet_accuracy(model, data, split="val", resolution=r)
    reporter.progress(0.8, f"derived network: {space.describe(arch)}; fine-tuning")
    extra = {"expected_latency_ms": expected, "target_ms": target, "search": "proxylessnas",
             "inherited_accuracy": inherited, "weight_sharing": config.weight_sharing,
             "table_latency_ms": priced(idx), "argmax_table_latency_ms": priced(argmax), "ops_moved_to_fit": moved}
    m, = finish_candidates([Finalist(model, arch, "proxylessnas", extra)], space, problem, data, profile=hardware,
                           estimator=est, reporter=reporter, epochs=config.finetune_epochs, lr=config.lr,
                           seed=config.seed, technique="proxylessnas")
    out: dict[str, Any] = {"target_ratio": m["latency_ms"] / target if target > 0 else None,
                           "ops_moved_to_fit": moved}
    # uniform baselines with the same training budget, compared at equal latency
    budget = config.epochs + config.finetune_epochs
    baselines = uniform_archs(space, r, grid=config.baselines, width_mults=config.baseline_widths)
    if baselines:
        reporter.progress(0.85, f"training {len(baselines)} uniform baselines from scratch ({budget} epochs each)")
        train_uniform(baselines, data, problem, epochs=budget, lr=config.lr, batch_size=config.batch_size,
                      seed=config.seed, progress=lambda i, n: reporter.progress(
                          0.85 + 0.13 * i / n, f"uniform baseline {i}/{n} trained"))
        if hardware.measurable:  # the searched net measured again beside them, interleaved
            items = [(model, space.example_inputs(arch, problem))] + [
                (b.model, b.space.example_inputs(b.arch, problem)) for b in baselines]
            ms = [x.median_ms for x in measure_many(items, warmup=3, repeats=25, rounds=5, threads=1)]
            searched_ms, lat, src = ms[0], ms[1:], ["measured"] * len(baselines)
        else:
            searched_ms, lat, src = m["latency_ms"], [], []
            for b in baselines:
                e = (est if b.space is space else latency_for(hardware, space=b.space, problem=problem,
                                                                source=config.latency_source)).estimate_arch(b.arch)
                lat.append(e.ms)
                src.append(e.source)
        rows = []
        for b, ms_b, s_b in zip(baselines, lat, src):
            reporter.candidate(b.space.structure(b.arch), {
                "accuracy": b.accuracy, "accuracy_source": "trained from scratch", "latency_ms": ms_b,
                "latency_source": s_b, "search": "uniform baseline", "label": b.label, "train_epochs": budget,
                "width_mult": b.space.width_mult})
            rows.append((b.accuracy, ms_b))
        best = best_at_latency(searched_ms, rows)
        out.update(baselines=len(baselines), baseline_epochs=budget, searched_latency_ms_beside_baselines=searched_ms,
                   best_uniform_acc=best[0] if best else None, best_uniform_latency_ms=best[1] if best else None,
                   proxyless_vs_best_uniform_acc=m["accuracy"] - best[0] if best else None,
                   best_uniform_any_latency_acc=max(a for a, _ in rows))
    same = indistinct_blocks(table, len(net.choices))
    out["blocks_indistinct"] = len(same)
    reporter.progress(1.0, "done")
    text = (f"Derived network: accuracy {m['accuracy']:.1%}, latency {m['latency_ms']:.2f} ms "
            f"({m['latency_source']}) against a target of {target:.2f} ms ({out['target_ratio']:.0%} of it"
            + (f"; {moved} of {len(idx)} blocks moved off the most likely op to fit" if moved else "") + ")")
    if out.get("best_uniform_acc") is not None:
        gap = out["proxyless_vs_best_uniform_acc"]
        text += (f"; the best uniform baseline at that latency or less ({out['baselines']} trained from scratch, "
                 f"{budget} epochs each): {out['best_uniform_acc']:.1%}, so the search "
                 + (f"wins by {gap:+.1%}" if gap > 0 else f"does NOT beat it ({gap:+.1%})"))
    elif baselines:
        text += f"; none of the {len(baselines)} uniform baselines is as fast"
    if same:
        text += (f"; the {est.source} latency prices the kernel/expand choices of {len(same)} of {len(table)} blocks "
                 "within 2 % of each other: there the latency loss cannot prefer one (only depth matters)")
    return Summary(text + f" on {choice.name}" + (f"; {choice.note}" if choice.note else ""),
                   {"dataset": choice.name, "accuracy": m["accuracy"], "latency_ms": m["latency_ms"],
                    "target_ms": target, "expected_latency_ms": expected, "inherited_accuracy": inherited,
                    "arch_updates": trainer.updates, **out, "wall_s": time.perf_counter() - t0})
