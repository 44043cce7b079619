"""Feature extractor adaptation (TinyTL, Cai et al. 2020, Sec. 3.3).

Instead of one fixed feature extractor, TinyTL pre-trains a weight-shared
super-net (once-for-all style) on the source task and, for each target
dataset, picks the sub-net whose frozen features suit the target data and
whose training fits the device, without back-propagation; the chosen sub-net
is then trained with TinyTL (biases and lite residual modules).

- :func:`pretrained_supernet`: an MBConv super-net (:mod:`engine.supernet`)
  trained on the *source* task the fixed backbone is trained on (same dataset
  and classes, never the target classes) with the shared super-net trainer
  (sandwich rule, through :func:`engine.training.fit`), cached as safetensors.
- :func:`select_subnet`: forward passes only, under ``torch.no_grad``: per
  candidate sub-net, batch-norm statistics re-calibrated on the target training
  images, frozen features pooled, a closed-form ridge classifier (least squares
  on one-hot labels) fitted and scored by k-fold held-out accuracy on the
  target *training* images (the test split is never touched). Only sub-nets
  whose TinyTL-L+B training memory (the paper's count, from shapes:
  :func:`engine.tinytl.memory.analytic_memory`) is within the budget and fits
  the device are scored. Candidates come from the shared evolutionary or
  random search (:mod:`engine.search`).

Why ridge: it is the closed form of the linear classifier that TinyTL trains on
top of the features, accounts for correlated feature dimensions (nearest class
mean does not), and fitted for a few ridge strengths at once from one SVD per
fold it costs milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from engine.cache import cache_dir
from engine.data import load_train_test
from engine.search import (ConstraintError, EvolutionSearch, EvolutionSettings, RandomSearch, Searcher, arch_key,
                           run_search)
from engine.seeding import numerics_key
from engine.problems import ImageClassification
from engine.spaces.mbconv import MBConvNet, MBConvSpace
from engine.supernet import (MBConvSuperNet, NasData, evaluate_subnet, largest_arch, load_checkpoint,
                             recalibrate_bn, save_checkpoint, smallest_arch, train_supernet)
from engine.training import to_channels_last

from .lite_residual import LiteSpec
from .memory import AnalyticMemory, analytic_memory, fits_profile
from .methods import apply_method, classifier_of

__all__ = ["FA_METHOD", "FA_TITLE", "SEARCHES", "SupernetTask", "fa_space", "pretrained_supernet", "adapt_subnet",
           "frozen_features", "ridge_cv_accuracy", "tinytl_lb_memory", "SubnetTrial", "Selection", "select_subnet"]

FA_METHOD = "tinytl-lb-fa"
FA_TITLE = "TinyTL-L+B+FA: lite residuals and biases on a sub-net picked for the target data"
SEARCHES = ("evolution", "random")
_VERSION = 1
#: ridge strengths tried per fold (relative to the number of fitting images; features are standardised)
RIDGE_LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class SupernetTask:
    """Everything that determines the super-net's weights (the cache key)."""

    dataset: str = "mnist-5k"
    classes: str = "0-4"
    resolution: int = 32
    width_mult: float = 0.5
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    n_random: int = 1
    train_limit: int = 0  # 0: all
    seed: int = 0


def fa_space(width_mult: float, resolution: int) -> MBConvSpace:
    """The super-net's space, in the family of the tiny backbone: a stride-2
    stem, then three stride-2 stages of 1-3 MBConv blocks (base widths 32, 32,
    64, scaled by ``width_mult``), kernel 3/5/7, expand ratio 2/3/4/6, a 256-d
    feature mix; one input resolution (the target's)."""
    return MBConvSpace(widths=(32, 32, 64), strides=(2, 2, 2), kernels=(3, 5, 7), expands=(2, 3, 4, 6),
                       depths=(1, 2, 3), resolutions=(resolution,), stem_width=16, stem_stride=2, head_width=256,
                       width_mult=width_mult)


def _key(task: SupernetTask) -> str:
    space = fa_space(task.width_mult, task.resolution).params()
    # the numerics (threads, torch version) too: a cache hit gives the weights a fresh training here would
    blob = json.dumps({"task": asdict(task), "space": space, **numerics_key(), "v": _VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _source_data(task: SupernetTask) -> NasData:
    """The source task's images (3 channels), normalised with the training statistics;
    its test split serves as the validation split that reports the super-net's accuracy."""
    train, test = load_train_test(task.dataset, classes=task.classes, train_limit=task.train_limit, seed=task.seed,
                                  image_size=task.resolution, channels=3)
    return NasData.from_splits(task.dataset, train, test, test)


def pretrained_supernet(task: SupernetTask, *, progress: Callable[[float, str], None] | None = None,
                        directory: str | Path | None = None) -> tuple[MBConvSuperNet, dict[str, Any]]:
    """The super-net for ``task``: loaded from the cache (safetensors, no pickle),
    or trained with :func:`engine.supernet.train_supernet` and cached."""
    folder = Path(directory) if directory is not None else cache_dir()
    path = folder / f"tinytl-supernet-{_key(task)}.safetensors"
    if path.is_file():
        try:
            net, meta = load_checkpoint(path)
            return net, {"cached": True, "path": str(path), **{k: meta.get(k) for k in
                                                                ("largest_accuracy", "smallest_accuracy")}}
        except Exception:  # noqa: BLE001 - a damaged or foreign cache file is rebuilt
            pass
    data = _source_data(task)
    with torch.random.fork_rng():
        torch.manual_seed(task.seed)
        net = MBConvSuperNet(fa_space(task.width_mult, task.resolution), num_classes=data.num_classes,
                             in_channels=3)
        cb = None
        if progress is not None:
            cb = lambda f, msg, _m: progress(f, "super-net: " + msg)  # noqa: E731
        train_supernet(net, data, epochs=task.epochs, rng=np.random.default_rng(task.seed), sampling="sandwich",
                       n_random=task.n_random, distill=True, lr=task.lr, batch_size=task.batch_size, progress=cb,
                       seed=task.seed)
    scores = {name: evaluate_subnet(net, arch, data, split="val", bn_images=500, seed=task.seed)
              for name, arch in (("largest", largest_arch(net.space)), ("smallest", smallest_arch(net.space)))}
    meta = {"source": asdict(task), "largest_accuracy": scores["largest"], "smallest_accuracy": scores["smallest"],
            "dataset": task.dataset, "resolution": task.resolution}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(net, path.stem, meta=meta, path=path)
    return net, {"cached": False, "path": str(path), "largest_accuracy": scores["largest"],
                 "smallest_accuracy": scores["smallest"]}


# -- the backprop-free score ------------------------------------------------------


def _batches(x: torch.Tensor, size: int) -> Iterable[torch.Tensor]:
    for s in range(0, len(x), size):
        yield x[s:s + size]


@torch.no_grad()
def adapt_subnet(net: MBConvSuperNet, arch: dict[str, Any], images: torch.Tensor, *, batch_size: int = 250,
                 num_classes: int | None = None, generator: torch.Generator | None = None) -> MBConvNet:
    """The static sub-net of ``arch`` with batch-norm statistics re-computed on
    ``images`` (forward passes only), in eval mode; with ``num_classes`` a new
    classifier (N(0, 0.01) weights, zero bias) replaces the source one."""
    sub = to_channels_last(net.extract(arch))  # depthwise convolutions run faster so on CPU
    recalibrate_bn(sub, (to_channels_last(x) for x in _batches(images, batch_size)))
    sub.to(memory_format=torch.contiguous_format)
    if num_classes is not None:
        old = classifier_of(sub)
        head = nn.Linear(old.in_features, num_classes)
        head.weight.normal_(0, 0.01, generator=generator)
        head.bias.zero_()
        sub.head.linear = head
    return sub.eval()


@torch.no_grad()
def frozen_features(model: nn.Module, images: torch.Tensor, *, batch_size: int = 250) -> torch.Tensor:
    """The classifier's inputs (pooled features) for ``images``, eval mode, no autograd graph."""
    head = classifier_of(model)
    grabbed: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda m, args: grabbed.append(args[0].flatten(1).double()))
    was = model.training
    to_channels_last(model.eval())
    try:
        for x in _batches(images, batch_size):
            model(to_channels_last(x))
    finally:
        hook.remove()
        model.train(was).to(memory_format=torch.contiguous_format)
    return torch.cat(grabbed)


@torch.no_grad()
def ridge_cv_accuracy(features: torch.Tensor, labels: torch.Tensor, num_classes: int, *, folds: int = 5,
                      lambdas: tuple[float, ...] = RIDGE_LAMBDAS, seed: int = 0) -> float:
    """k-fold held-out accuracy of ridge regression on one-hot labels (features
    standardised on each fold's fitting part), at the best of ``lambdas``."""
    f = features.double()
    n = len(labels)
    folds = max(2, min(folds, n))
    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    correct = torch.zeros(len(lambdas), dtype=torch.float64)
    onehot = torch.nn.functional.one_hot(labels, num_classes).double()
    for k in range(folds):
        te = torch.from_numpy(parts[k])
        tr = torch.from_numpy(np.concatenate([parts[j] for j in range(folds) if j != k]))
        mu, sd = f[tr].mean(0), f[tr].std(0).clamp_min(1e-6)
        xtr, xte = (f[tr] - mu) / sd, (f[te] - mu) / sd
        ymean = onehot[tr].mean(0)
        u, s, vh = torch.linalg.svd(xtr, full_matrices=False)
        uty = u.T @ (onehot[tr] - ymean)
        proj = xte @ vh.T
        for j, lam in enumerate(lambdas):
            coef = (s / (s * s + lam * len(tr))).unsqueeze(1) * uty
            pred = (proj @ coef + ymean).argmax(1)
            correct[j] += float((pred == labels[te]).sum())
    return float(correct.max()) / n


@torch.no_grad()
def tinytl_lb_memory(space: MBConvSpace, arch: dict[str, Any], *, num_classes: int, in_channels: int = 3,
                     lite: LiteSpec = LiteSpec(), batch_size: int = 8) -> AnalyticMemory:
    """TinyTL-L+B's training memory on ``arch`` by the paper's count. It depends
    on shapes only, so it is counted on a freshly built network."""
    net = space.build(arch, ImageClassification(channels=in_channels, classes=num_classes))
    shape = (in_channels, int(arch["resolution"]), int(arch["resolution"]))
    counted = apply_method(net, "tinytl-lb", lite=lite, input_shape=shape, inplace=True,
                           generator=torch.Generator().manual_seed(0))
    return analytic_memory(counted, shape, batch_size=batch_size)


# -- the selection ------------------------------------------------------------------


@dataclass
class SubnetTrial:
    arch: dict[str, Any]
    #: held-out accuracy of the closed-form classifier on the sub-net's frozen features
    score: float
    #: TinyTL-L+B training memory by the paper's count at the training batch size
    memory_bytes: float
    fits_device: bool
    fits_reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Selection:
    best: SubnetTrial | None
    trials: list[SubnetTrial] = field(default_factory=list)
    #: distinct sub-nets drawn that broke the budget or did not fit the device (never scored)
    rejected: int = 0
    budget_bytes: float = math.inf
    search: str = "evolution"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best.to_dict() if self.best else None, "trials": [t.to_dict() for t in self.trials],
                "rejected": self.rejected, "budget_bytes": self.budget_bytes, "search": self.search,
                "seconds": self.seconds}


#: rounds of drawing (at least 8 sub-nets each) before a search gives up on the budget
_DRAW_ROUNDS = 10


def _population(evaluations: int) -> int:
    return max(4, min(16, evaluations // 3))


def select_subnet(net: MBConvSuperNet, images: torch.Tensor, labels: torch.Tensor, *, num_classes: int,
                  budget_bytes: float, hardware: Any, evaluations: int, rng: np.random.Generator,
                  search: str = "evolution", lite: LiteSpec = LiteSpec(), batch_size: int = 8, folds: int = 5,
                  tolerance: float = 0.0, seed: int = 0, bn_images: int = 500,
                  on_trial: Callable[[SubnetTrial, int], None] | None = None) -> Selection:
    """Score ``evaluations`` distinct sub-nets of ``net`` on the target training
    data (``images``, normalised, at the space's resolution; ``labels``) without
    back-propagation (batch norms re-calibrated on the first ``bn_images``),
    among those whose TinyTL-L+B memory is within ``budget_bytes`` and fits
    ``hardware``; return the best (with ``tolerance`` > 0: the one needing the
    least memory among those scoring within ``tolerance`` of the best).

    Memory comes first and costs milliseconds (shapes only): a sub-net outside
    the budget is never scored. The device check is the paper's count
    (activations, trainable and frozen parameters), as ``fits_device_analytic``."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}")
    t0 = time.perf_counter()
    space = net.space
    counted: dict[str, tuple[float, bool, str]] = {}

    def memory(arch: dict[str, Any]) -> tuple[float, bool, str]:
        k = arch_key(arch)
        if k not in counted:
            m = tinytl_lb_memory(space, arch, num_classes=num_classes, in_channels=net.in_channels, lite=lite,
                                 batch_size=batch_size)
            fits, why = fits_profile(hardware, activation_bytes=m.activation_bytes,
                                     trainable_param_bytes=m.trainable_param_bytes,
                                     frozen_param_bytes=m.frozen_param_bytes)
            counted[k] = (m.total_bytes, fits, why)
        return counted[k]

    def feasible(archs: list[dict[str, Any]]) -> np.ndarray:
        return np.array([memory(a)[0] <= budget_bytes and memory(a)[1] for a in archs], dtype=bool)

    pop = _population(evaluations)
    directions = {"score": "max"}
    if search == "evolution":
        finder: Searcher = EvolutionSearch(space, rng=rng, directions=directions, feasible=feasible,
                                           max_rounds=_DRAW_ROUNDS,
                                           settings=EvolutionSettings(pop, 0.25, 0.5, 0.2, 1 << 30))
    else:
        finder = RandomSearch(space, rng=rng, directions=directions, feasible=feasible, batch_size=pop,
                              max_rounds=_DRAW_ROUNDS)
    scores: dict[str, SubnetTrial] = {}
    trials: list[SubnetTrial] = []

    def score(archs: list[dict[str, Any]]) -> np.ndarray:
        """Each distinct sub-net scored once, until ``evaluations`` are; the rest get -1."""
        fitness = []
        for a in archs:
            k = arch_key(a)
            if k not in scores and len(trials) < evaluations:
                sub = adapt_subnet(net, a, images[:bn_images])
                value = ridge_cv_accuracy(frozen_features(sub, images), labels, num_classes, folds=folds, seed=seed)
                mem, fits, why = memory(a)
                scores[k] = SubnetTrial(dict(a), value, mem, fits, why)
                trials.append(scores[k])
                if on_trial is not None:
                    on_trial(scores[k], len(trials))
            fitness.append(scores[k].score if k in scores else -1.0)
        return np.asarray(fitness)

    def memory_bytes(archs: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray([memory(a)[0] for a in archs])

    max_rounds = 4 * math.ceil(evaluations / pop) + 4  # repeats cost nothing; stop in a small space
    with torch.no_grad():
        try:
            run_search(finder, {"score": score, "memory_bytes": memory_bytes}, fitness="score", cost="memory_bytes",
                       generations=max_rounds, stop=lambda run: len(trials) >= evaluations)
        except ConstraintError:  # no sub-net within the budget and the device's memory
            pass
    best = None
    if trials:
        top = max(t.score for t in trials)
        close = [t for t in trials if t.score >= top - tolerance - 1e-12]
        # ties (and, with a tolerance, near-ties) go to the sub-net needing the least memory
        best = min(close, key=lambda t: (t.memory_bytes, -t.score) if tolerance > 0 else (-t.score, t.memory_bytes))
    rejected = sum(1 for m, fits, _ in counted.values() if not (m <= budget_bytes and fits))
    return Selection(best, trials, rejected, budget_bytes, search, time.perf_counter() - t0)

