"""The ``sparsenet`` technique: train a set of networks of the aggregation space
(ResNet's sum, DenseNet's concatenation, SparseNet's concatenation at
exponential offsets, the sum at exponential offsets) at equal epochs on equal
data, and report per network its test accuracy, parameters, MACs, the training
memory measured and the latency on the chosen profile with its source.

The set is the named presets (``networks``), a grid (rules x depths x growth
rates) or samples of the space. Training memory is measured in one real
training step at ``memory_batch_size`` (:func:`engine.tinytl.memory.measure_training_memory`:
the bytes autograd saves, caught with ``saved_tensors_hooks`` and deduplicated
by storage, plus parameters, gradients and optimiser state). Curves
``accuracy/<net>`` and ``loss/<net>`` per epoch; the trained modules are in
the ``trained`` dict :func:`train_networks` returns (``run`` keeps them only
for the run).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ConfigBase, param
from ..data import DATASETS, choose_dataset, load_train_test
from ..hardware.cost import profile_model
from ..hardware.latency import latency_for
from ..hardware.measure import fixed_threads
from ..nn.aggregation import RULES
from ..problems import ImageClassification
from ..networks import keep_network
from ..reporter import Reporter, Summary
from ..spaces.aggregation import PRESETS, AggregationSpace, paper_arch, preset_arch
from ..spaces.base import ArchError
from ..tinytl.memory import measure_training_memory
from ..training import StepOutput, classification_step, make_optimizer, train_model
from ..training.schedule import Schedule

__all__ = ["Config", "run", "train_networks", "networks_for", "RECIPES", "MODES", "TrainedNetwork"]

MODES = ("presets", "grid", "sample")
RECIPES = ("quick", "paper")
RULE_NAMES = tuple(RULES)


@dataclass(frozen=True)
class Config(ConfigBase):
    dataset: str = param("fashion-mnist", help="Dataset (fashion-mnist from Debian's dataset-fashion-mnist, falling "
                         "back to mnist-5k where it is missing; cifar10 / cifar100 from FRONTIER_DATA_DIR)",
                         choices=DATASETS)
    mode: str = param("presets", help="Which networks: presets (the named ones below), grid (rules x depths x "
                                      "growth rates) or sample (random networks of the space)", choices=MODES)
    networks: tuple[str, ...] = param(("densenet-16-8", "densenet-28-8", "sparsenet-16-16", "sparsenet-28-16"),
                                      help="Presets: scaled-down ones train on a CPU in minutes; the paper's "
                                           "(densenet-40-12 …) are the full CIFAR networks",
                                      choices=tuple(PRESETS), min_items=1, max_items=16)
    grid_rules: tuple[str, ...] = param(("concat-all", "concat-exp"), help="Grid: aggregation rules (sum-all: "
                                        "ResNet, concat-all: DenseNet, concat-exp: SparseNet, sum-exp)",
                                        choices=RULE_NAMES, min_items=1, max_items=4)
    grid_depths: tuple[int, ...] = param((16, 28), help="Grid: network depths L (stem + convolutions + transitions "
                                         "+ classifier; L - 4 a multiple of 3, of 6 with the bottleneck)",
                                         min=7, max=250, min_items=1, max_items=6)
    grid_growths: tuple[int, ...] = param((8, 16), help="Grid: growth rates k (channels each layer adds)",
                                          min=2, max=64, min_items=1, max_items=4)
    grid_bottleneck: bool = param(False, help="Grid: bottleneck layers and 0.5 compression (the paper's BC)")
    samples: int = param(6, help="Sample: random networks of the space", min=1, max=64)
    recipe: str = param("quick", help="quick: SGD, cosine schedule, no augmentation; paper: SGD (Nesterov) with "
                                      "the learning rate /10 at half of the epochs, random crops (4 px padding) and "
                                      "horizontal flips", choices=RECIPES)
    epochs: int = param(3, help="Training epochs, the same for every network", min=1, max=300)
    batch_size: int = param(64, help="Training batch size (the paper: 64)", min=2, max=1024)
    lr: float = param(0.1, help="SGD learning rate (the paper: 0.1)", min=1e-4, max=1.0)
    weight_decay: float = param(1e-4, help="Weight decay (the paper: 1e-4)", min=0.0, max=0.1)
    train_limit: int = param(3000, help="Training images (the same seeded pick for every network; 0 = all)",
                             min=0, max=1_000_000)
    test_limit: int = param(1000, help="Test images the accuracy is measured on (0 = all)", min=0, max=1_000_000)
    image_size: int = param(0, help="Images resized to this size (0: the dataset's own)", min=0, max=64)
    memory_batch_size: int = param(32, help="Batch size the training memory is measured at", min=1, max=512)
    latency_repeats: int = param(10, help="Timed runs per network when latency is measured on this machine",
                                 min=1, max=200, advanced=True)
    threads: int = param(1, help="CPU threads (1 is fastest on a shared machine; 0 keeps torch's default)",
                         min=0, max=256, advanced=True)
    seed: int = param(0, help="Random seed (data pick, initial weights, shuffling)", min=0, max=2**31 - 1)

    def check(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if 0 < self.image_size < 8:
            errors["image_size"] = "at least 8 px (two transitions halve it twice), or 0 for the dataset's own"
        if self.mode == "grid":
            for d in self.grid_depths:
                try:
                    paper_arch(int(d), 8, "concat-all", bottleneck=self.grid_bottleneck)
                except ArchError as e:
                    errors["grid_depths"] = str(e)
                    break
        return errors


@dataclass
class TrainedNetwork:
    """One network of the run: its name, architecture, trained module and figures."""

    name: str
    arch: dict[str, Any]
    model: torch.nn.Module
    metrics: dict[str, Any] = field(default_factory=dict)
    #: the architecture as a candidate reports it (``space.structure``: widths and connectivity)
    structure: dict[str, Any] = field(default_factory=dict)
    #: what rebuilds it (an ``engine.networks`` spec), the problem and dataset it was trained on
    spec: dict[str, Any] = field(default_factory=dict)
    problem: Any = None
    dataset: str = ""


def networks_for(config: Config) -> tuple[AggregationSpace, list[tuple[str, dict[str, Any]]]]:
    """The space and the (name, architecture) pairs the config asks for."""
    if config.mode == "presets":
        return AggregationSpace.paper(), [(n, preset_arch(n)) for n in dict.fromkeys(config.networks)]
    if config.mode == "grid":
        nets = []
        for rule in config.grid_rules:
            for depth in config.grid_depths:
                for k in config.grid_growths:
                    nets.append((f"{rule}-{depth}-{k}{'-bc' if config.grid_bottleneck else ''}",
                                 paper_arch(int(depth), int(k), rule, bottleneck=config.grid_bottleneck)))
        space = AggregationSpace(depths=sorted({a["depths"][0] for _, a in nets}), growths=config.grid_growths,
                                 rules=config.grid_rules, bottlenecks=(config.grid_bottleneck,),
                                 compressions=(0.5 if config.grid_bottleneck else 1.0,))
        return space, nets
    space = AggregationSpace()
    archs = space.sample_distinct(np.random.default_rng(config.seed), config.samples)
    return space, [(f"sample-{i + 1}", a) for i, a in enumerate(archs)]


def network_depth(arch: dict[str, Any]) -> int:
    """The paper's L: stem, every convolution of the blocks, the transitions, the classifier."""
    convs = sum(d * (2 if bc else 1) for d, bc in zip(arch["depths"], arch["bottleneck"]))
    return 1 + convs + len(arch["compressions"]) + 1


def _augment(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The paper's augmentation: a random crop of the 4-px zero-padded image and a random horizontal flip."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,))
    dy = torch.randint(0, 2 * pad + 1, (n,))
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # (n, h)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # (n, w)
    idx_n = torch.arange(n).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2)
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.contiguous()


def _augmented_step(model: torch.nn.Module, batch: Any) -> StepOutput:
    x, y = batch
    return classification_step(model, (_augment(x), y))


def _load(config: Config):
    choice = choose_dataset(config.dataset)
    train, test = load_train_test(choice.name, train_limit=config.train_limit, seed=config.seed,
                                  image_size=config.image_size or None)
    if config.test_limit:
        test = test.limit(config.test_limit, seed=config.seed + 1)
    mean = train.x.mean(dim=(0, 2, 3), keepdim=True)
    std = train.x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    xs, xt = (train.x - mean) / std, (test.x - mean) / std
    problem = ImageClassification(channels=int(xs.shape[1]), size=int(xs.shape[-1]), classes=train.num_classes)
    return choice, problem, (xs, train.y), (xt, test.y)


def train_networks(config: Config, hardware: Any, *, reporter: Reporter | None = None,
                   on_network: Callable[[TrainedNetwork], None] | None = None) -> tuple[list[TrainedNetwork], dict]:
    """Train every network of ``config`` and measure it; returns the networks and run facts."""
    space, nets = networks_for(config)
    choice, problem, train, test = _load(config)
    space.check_problem(problem)
    if reporter is not None:
        reporter.progress(0.0, choice.note or f"{len(nets)} networks on {choice.name} "
                                              f"({len(train[1])} training, {len(test[1])} test images)")
    lat = latency_for(hardware, space=space, problem=problem, purpose="final",
                      measure={"repeats": config.latency_repeats, "warmup": 3})
    steps_per_epoch = max(1, -(-len(train[1]) // config.batch_size))
    if config.recipe == "paper":
        schedule, step = Schedule("step", step_size=max(1, config.epochs * steps_per_epoch // 2), gamma=0.1), \
            _augmented_step
    else:
        schedule, step = Schedule("cosine"), None
    mem_idx = torch.arange(config.memory_batch_size) % len(train[1])
    mem_batch = (train[0][mem_idx], train[1][mem_idx])
    out: list[TrainedNetwork] = []
    for i, (name, arch) in enumerate(nets):
        lo, span = i / len(nets), 1.0 / len(nets)
        torch.manual_seed(config.seed)
        model = space.build(arch, problem)
        inputs = space.example_inputs(arch, problem)
        cost = profile_model(model, inputs)
        mem = measure_training_memory(model, mem_batch, make_optimizer=partial(
            make_optimizer, name="sgd", lr=config.lr, momentum=0.9, weight_decay=config.weight_decay))
        t0 = time.perf_counter()

        def progress(frac: float, message: str, metrics: dict[str, float], _n=name, _lo=lo) -> None:
            if reporter is None:
                return
            reporter.progress(min(1.0, _lo + span * 0.9 * frac), f"{_n}: {message}")
            if "epoch" in metrics:
                ep = int(metrics["epoch"])
                reporter.series(f"loss/{_n}", ep, float(metrics.get("loss", float("nan"))))
                if "val_acc" in metrics:
                    reporter.series(f"accuracy/{_n}", ep, float(metrics["val_acc"]))

        hist = train_model(model, train, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                           optimizer="sgd", momentum=0.9, weight_decay=config.weight_decay, schedule=schedule,
                           seed=config.seed, val_data=test, step=step,
                           eval_step=classification_step if step is not None else None, progress=progress)
        train_s = time.perf_counter() - t0
        model.eval()
        e = lat.estimate(model, inputs)
        rules = sorted(set(arch["rules"]))
        metrics: dict[str, Any] = {
            "accuracy": float(hist.val_acc[-1]), "params": cost.params, "macs": cost.macs,
            "training_memory_bytes_measured": mem.total_bytes, "activation_bytes_measured": mem.activation_bytes,
            "param_bytes_measured": mem.param_bytes, "grad_bytes_measured": mem.grad_bytes,
            "optimizer_bytes_measured": mem.optimizer_bytes, "memory_batch_size": mem.batch_size,
            "depth": network_depth(arch), "rule": rules[0] if len(rules) == 1 else "mixed", "network": name,
            "train_s": train_s, **e.as_metrics()}
        net = TrainedNetwork(name, arch, model, metrics, space.structure(arch),
                             spec={"builder": "space", "args": {"space": space.name, "params": space.params(),
                                                                "arch": arch}}, problem=problem, dataset=choice.name)
        out.append(net)
        if on_network is not None:
            on_network(net)
    return out, {"dataset": choice.name, "dataset_note": choice.note, "problem": problem.to_dict(), "space": space}


def run(config: Config, hardware: Any, reporter: Reporter) -> Summary:
    with fixed_threads(config.threads or None):
        return _run(config, hardware, reporter)


def _run(config: Config, hardware: Any, reporter: Reporter) -> Summary:
    t0 = time.perf_counter()

    def report(net: TrainedNetwork) -> None:
        idx = reporter.candidate(net.structure, net.metrics)
        keep_network(reporter, net.model, name=net.name, spec=net.spec, problem=net.problem, dataset=net.dataset,
                     metrics={**{k: net.metrics[k] for k in ("accuracy", "params", "macs", "latency_ms",
                                                             "latency_source", "training_memory_bytes_measured")
                                 if k in net.metrics}, "accuracy_source": "trained"},
                     made_by=f"trained from scratch for {config.epochs} epochs on {net.dataset} ({config.recipe} "
                             "recipe)", technique="sparsenet", candidate=idx)

    nets, facts = train_networks(config, hardware, reporter=reporter, on_network=report)
    reporter.progress(1.0, "done")
    best = max(nets, key=lambda n: n.metrics["accuracy"])
    claim = _claim(nets)
    msg = (f"{len(nets)} networks on {facts['dataset']} for {config.epochs} epochs: best {best.name} "
           f"{best.metrics['accuracy']:.1%} with {best.metrics['params'] / 1e3:.0f}k parameters" + claim["text"]
           + (f"; {facts['dataset_note']}" if facts["dataset_note"] else ""))
    metrics = {"networks": len(nets), "dataset": facts["dataset"], "best_accuracy": best.metrics["accuracy"],
               "best_network": best.name, "wall_s": time.perf_counter() - t0, **claim["metrics"]}
    return Summary(msg, metrics)


def _claim(nets: list[TrainedNetwork]) -> dict[str, Any]:
    """SparseNet against DenseNet at matched depth: the ratios of parameters,
    training memory and latency (the paper's claim), where the set has both."""
    by = {}
    for n in nets:
        by.setdefault((n.metrics["rule"], n.metrics["depth"]), n)
    pairs = [(by[("concat-exp", d)], by[("concat-all", d)]) for (r, d) in by if r == "concat-exp"
             and ("concat-all", d) in by]
    if not pairs:
        return {"text": "", "metrics": {}}
    s, d = max(pairs, key=lambda p: p[0].metrics["depth"])
    m = {"depth_compared": s.metrics["depth"],
         "params_ratio_sparse_vs_dense": s.metrics["params"] / d.metrics["params"],
         "train_memory_ratio_sparse_vs_dense": s.metrics["training_memory_bytes_measured"]
         / d.metrics["training_memory_bytes_measured"],
         "latency_ratio_sparse_vs_dense": s.metrics["latency_ms"] / d.metrics["latency_ms"],
         "acc_sparsenet": s.metrics["accuracy"], "acc_densenet": d.metrics["accuracy"]}
    text = (f"; at depth {m['depth_compared']} SparseNet {s.name} against DenseNet {d.name}: accuracy "
            f"{m['acc_sparsenet']:.1%} vs {m['acc_densenet']:.1%}, parameters x{m['params_ratio_sparse_vs_dense']:.2f}, "
            f"training memory x{m['train_memory_ratio_sparse_vs_dense']:.2f}, "
            f"latency x{m['latency_ratio_sparse_vs_dense']:.2f}")
    return {"text": text, "metrics": m}
