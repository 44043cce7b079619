"""The ``amc`` technique: AMC (He et al., ECCV 2018) on a trained network.

1. The input network: a saved network (the ``network`` setting), or a
   torchvision classifier trained here first (kept as a network, the parent).
2. Episodes: the shared DDPG agent keeps a fraction of each layer group's
   channels (:mod:`.env`, the action wall holds the budget); the pruned network
   is built for real (:mod:`.pruning`), its batch norms re-estimated on
   training images (no gradient step: AMC does no fine-tuning in the search)
   and scored on a held-out part of the training data. Reward: the accuracy
   (AMC's 0.01 x top-1 %), or -error x log(FLOPs). Random search over
   policies through the same wall runs beside it at equal episodes.
3. Baselines at the same budget: uniform (one ratio everywhere) and global
   magnitude pruning.
4. The best agent and random policies and both baselines are fine-tuned
   alike (the shared training loop), tested on the test split, measured
   together with the original on this machine (interleaved) or estimated on
   the profile, and kept as networks whose parent is the input network.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cache import cache_dir
from ..config import ConfigBase, param
from ..data import DATASETS, choose_dataset, load_train_test, make_loaders
from ..hardware.latency import latency_for
from ..hardware.measure import fixed_threads, measure_many
from ..modelzoo.zoo import MODELS
from ..networks import Network, keep_network, load_network, load_network_setting, save_network
from ..networks.builders import NetworkSpec
from ..problems import ImageClassification
from ..reporter import Reporter, Summary
from ..search.agents import DDPGAgent, DDPGSettings
from ..search.agents.checkpoint import load_state, save_state
from ..seeding import numerics_key
from ..supernet.bn import recalibrate_bn
from ..training import classification_step, evaluate, train_model
from .env import RESOURCES, PruningEnv, describe_policy
from .pruning import CRITERIA, PruningError, analyse, channel_scores, kept_channels, prune

__all__ = ["AMCConfig", "run_amc", "REWARDS", "base_network", "base_network_key", "task_data", "TaskData"]

REWARDS = ("acc", "acc-log-flops")


@dataclass(frozen=True)
class AMCConfig(ConfigBase):
    network: str = param("", help="The trained network to prune; none: a torchvision classifier (base model) is "
                                  "trained here first", max_length=500, network=("image-classification",))
    dataset: str = param("fashion-mnist", choices=DATASETS,
                         help="Data to score and fine-tune on (a saved network's own dataset when it names one)")
    base_model: str = param("mobilenet_v2", choices=tuple(MODELS),
                            help="Without a network: the torchvision classifier trained first")
    base_width: float = param(0.5, min=0.25, max=2.0, help="Without a network: its width multiplier")
    base_epochs: int = param(4, min=1, max=100, help="Without a network: its training epochs (cached)")
    resolution: int = param(32, min=16, max=224, help="Without a network: input resolution (3 channels)")
    resource: str = param("flops", choices=RESOURCES,
                          help="What the budget limits: FLOPs (MACs), parameters, or latency on the profile")
    budget: float = param(0.5, min=0.05, max=0.95, help="Fraction of the original network's resource to keep")
    latency_budget_ms: float = param(0.0, min=0.0, max=1e6,
                                     help="With resource=latency: the latency limit in ms (0: budget x the "
                                          "original's latency)")
    episodes: int = param(150, min=2, max=5000, help="Search episodes of the agent (AMC: 800)")
    warmup: int = param(50, min=1, max=1000, help="Episodes of random actions before the agent learns (AMC: 100)")
    random_search: bool = param(True, help="Random policies through the same action wall at equal episodes")
    lbound: float = param(0.2, min=0.05, max=0.9, help="Smallest fraction of a layer's channels kept",
                          advanced=True)
    round_to: int = param(8, choices=(1, 2, 4, 8, 16), help="Channel counts rounded to multiples of this",
                          advanced=True)
    criterion: str = param("l1", choices=CRITERIA, help="Which channels go: smallest L1 or L2 norm over the group")
    reward: str = param("acc", choices=REWARDS,
                        help="acc: the held-out accuracy; acc-log-flops: -error x log(FLOPs) (AMC's second)")
    train_limit: int = param(4000, min=100, max=100_000, help="Training images (fine-tuning, batch-norm statistics)")
    val_images: int = param(500, min=50, max=10_000, help="Held-out training images that score each episode")
    bn_images: int = param(256, min=16, max=10_000, help="Training images that re-estimate the batch norms")
    finetune_epochs: int = param(2, min=0, max=100, help="Fine-tuning epochs of the agent's best policy and of "
                                                         "each baseline (equal for all)")
    lr: float = param(0.01, min=1e-5, max=1.0, help="Learning rate of training and fine-tuning (SGD, cosine)")
    batch_size: int = param(64, min=8, max=1024, help="Batch size of training and fine-tuning")
    threads: int = param(1, min=0, max=256, help="CPU threads (0: PyTorch's default)", advanced=True)
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the agent, the data split and training")

    def check(self) -> dict[str, str]:
        errors = {}
        if self.warmup >= self.episodes:
            errors["warmup"] = "must be fewer than the episodes (the agent must get to act)"
        if self.latency_budget_ms and self.resource != "latency":
            errors["latency_budget_ms"] = "only with resource=latency"
        return errors


@dataclass
class TaskData:
    name: str
    train: torch.utils.data.TensorDataset
    val: Any
    test: Any
    calib: torch.Tensor
    note: str


def task_data(cfg: AMCConfig, dataset: str, problem: ImageClassification) -> TaskData:
    choice = choose_dataset(dataset)
    train, test = load_train_test(choice.name, image_size=problem.size, channels=problem.channels,
                                  train_limit=cfg.train_limit + cfg.val_images, seed=cfg.seed)
    frac = min(0.5, cfg.val_images / max(1, len(train.y)))
    train, val = train.split(frac, seed=cfg.seed)
    tl, vl = make_loaders(train, val, batch_size=cfg.batch_size, seed=cfg.seed)
    _, testl = make_loaders(train, test, batch_size=cfg.batch_size, seed=cfg.seed)
    xs = tl.dataset.tensors[0]
    return TaskData(choice.name, tl.dataset, vl, testl, xs[: cfg.bn_images], choice.note or "")


def _accuracy(model: nn.Module, loader) -> float:
    return float(evaluate(model, classification_step, loader)["acc"])


def _recalibrate(model: nn.Module, calib: torch.Tensor, batch: int = 128) -> None:
    recalibrate_bn(model, (calib[i:i + batch] for i in range(0, len(calib), batch)))


def base_network_key(cfg: AMCConfig, dataset: str) -> str:
    """The cache key of the base network trained for ``cfg`` on ``dataset``:
    every setting that determines its weights (the training split is
    ``train_limit + val_images`` images less the ``val_images`` held out, so
    both count) and this process's numerics (threads, torch version), so a
    cache hit gives the weights a fresh training here would. HAQ shares it."""
    blob = {"m": cfg.base_model, "w": cfg.base_width, "e": cfg.base_epochs, "r": cfg.resolution, "d": dataset,
            "n": cfg.train_limit, "val": cfg.val_images, "s": cfg.seed, "lr": cfg.lr, "b": cfg.batch_size,
            **numerics_key(), "v": 2}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def base_network(cfg: AMCConfig, reporter: Reporter) -> tuple[Network, nn.Module, bool]:
    """The input network: the chosen one, or a classifier trained here (cached)."""
    if cfg.network:
        net, module = load_network_setting(cfg.network, setting="network")
        return net, module, False
    choice = choose_dataset(cfg.dataset)
    folder = cache_dir("amc-base") / base_network_key(cfg, choice.name)[:20]
    if (folder / "network.json").is_file():
        try:
            net, module = load_network(folder)
            return net, module, True
        except ValueError:
            pass  # a damaged cache entry is trained again
    from ..networks.builders import build_network

    problem = ImageClassification(3, cfg.resolution, 10)
    spec = NetworkSpec("torchvision", {"model": cfg.base_model, "width": cfg.base_width})
    probe = load_train_test(choice.name, image_size=cfg.resolution, channels=3, train_limit=64, seed=cfg.seed)[0]
    problem = ImageClassification(3, cfg.resolution, probe.num_classes)
    data = task_data(cfg, choice.name, problem)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        module = build_network(spec, problem)
    reporter.progress(0.0, f"training the base {cfg.base_model} on {choice.name}")
    train_model(module, data.train, epochs=cfg.base_epochs, batch_size=cfg.batch_size, lr=cfg.lr, optimizer="sgd",
                weight_decay=4e-5, seed=cfg.seed, drop_last=True,
                progress=lambda f, m, _x: reporter.progress(0.15 * f, f"base network: {m}"))
    acc = _accuracy(module, data.test)
    net = Network(name=f"{cfg.base_model}-w{cfg.base_width:g}-{choice.name}", spec=spec, problem=problem,
                  dataset=choice.name, metrics={"accuracy": acc, "accuracy_source": "trained"}, technique="amc",
                  made_by=f"trained from scratch for {cfg.base_epochs} epochs on {len(data.train)} {choice.name} "
                          "images (AMC's input network)")
    save_network(module, net, folder.parent, folder_name=folder.name)
    return net, module.eval(), False


def run_amc(config: AMCConfig, hardware: Any, reporter: Reporter) -> Summary:
    with fixed_threads(config.threads or None):
        return _run(config, hardware, reporter)


def _run(cfg: AMCConfig, hardware: Any, reporter: Reporter) -> Summary:
    t0 = time.perf_counter()
    base_net, base, _cached = base_network(cfg, reporter)
    problem = base_net.problem
    if not isinstance(problem, ImageClassification):
        raise ValueError(f"network: AMC prunes image classifiers; {base_net.name} is a {problem.kind} network")
    inputs = problem.example_inputs()
    data = task_data(cfg, base_net.dataset or cfg.dataset, problem)
    plan = analyse(base.eval(), inputs, round_to=cfg.round_to)
    lat_final = latency_for(hardware, problem=problem, purpose="final", measure={"threads": 1, "repeats": 15,
                                                                                  "warmup": 3})
    base_lat = lat_final.estimate_model(base, inputs)
    budget = cfg.budget
    if cfg.resource == "latency" and cfg.latency_budget_ms:
        budget = cfg.latency_budget_ms / base_lat.ms
        if not 0 < budget < 1:
            raise ValueError(f"latency_budget_ms: the original runs in {base_lat.ms:.3f} ms ({base_lat.source}); "
                             "give a limit below it")
    try:
        env = PruningEnv(plan, budget=budget, resource=cfg.resource, lbound=cfg.lbound)
    except PruningError as e:
        raise ValueError(f"budget: {e}") from None
    base_acc_val = _accuracy(base, data.val)
    reporter.progress(0.15, f"{len(plan.groups)} layer groups; original held-out accuracy {base_acc_val:.3f}")

    def evaluate_policy(ratios: list[float]) -> tuple[dict[str, Any], nn.Module]:
        m = prune(base, plan, ratios, example_inputs=inputs, criterion=cfg.criterion)
        _recalibrate(m, data.calib)
        acc = _accuracy(m, data.val)
        cost = plan.cost(ratios)
        out: dict[str, Any] = {"accuracy": acc, "accuracy_source": "pruned, batch norms re-estimated, not fine-tuned",
                               "macs": int(cost["macs"]), "params": int(cost["params"]),
                               "flops_ratio": cost["macs"] / plan.total_macs,
                               "params_ratio": cost["params"] / plan.total_params}
        within = env.fraction(ratios) <= budget + 1e-9
        if cfg.resource == "latency":
            e = lat_final.estimate_model(m, inputs)
            out.update(latency_ms=e.ms, latency_source=e.source, latency_ratio=e.ms / base_lat.ms)
            within = e.ms <= budget * base_lat.ms
        out["within_budget"] = within
        if cfg.reward == "acc":
            reward = acc if within else 0.0
        else:
            reward = -(1.0 - acc) * math.log(max(cost["macs"], 2.0)) if within else -math.log(plan.total_macs)
        out["reward"] = reward
        return out, m

    rng = np.random.default_rng(cfg.seed)
    agent = DDPGAgent(10, cfg.lbound, 1.0, rng=np.random.default_rng(cfg.seed + 1), seed=cfg.seed,
                      settings=DDPGSettings(warmup=cfg.warmup))
    runs = [("agent", agent)] + ([("random", None)] if cfg.random_search else [])
    best: dict[str, tuple[float, list[float], dict[str, Any]]] = {}
    n_total = cfg.episodes * len(runs)
    # a run interrupted between episodes (a worker restarted) resumes from its checkpoint
    ckpt = cache_dir("amc-runs") / _run_key(cfg, base_net, hardware)
    start = 0
    saved = load_state(ckpt)
    if saved is not None and saved.get("episodes") == cfg.episodes:
        agent.load_state_dict(saved["agent"])
        rng.bit_generator.state = saved["rng"]
        best = {k: (v[0], list(v[1]), dict(v[2])) for k, v in saved["best"].items()}
        start = int(saved["episode"])
        reporter.progress(0.15 + 0.55 * start / cfg.episodes, f"resuming at episode {start + 1} from its checkpoint")
    done = start * len(runs)
    for ep in range(start, cfg.episodes):
        for how, ag in runs:
            if ag is not None:
                ratios, transitions = env.episode(lambda s, t: ag.act(s, ep)[0])
            else:
                ratios, transitions = env.episode(lambda s, t: rng.uniform(cfg.lbound, 1.0))
            metrics, _ = evaluate_policy(ratios)
            if ag is not None:
                ag.observe(transitions, metrics["reward"])
                ag.update()
            metrics.update(search=how, episode=ep, policy=describe_policy(ratios))
            reporter.candidate({"search": how, "episode": ep, "ratios": [round(r, 4) for r in ratios]}, metrics)
            reporter.series(f"reward/{how}", ep, metrics["reward"])
            if metrics["within_budget"] and (how not in best or metrics["reward"] > best[how][0]):
                best[how] = (metrics["reward"], ratios, metrics)
            reporter.series(f"best reward/{how}", ep, best[how][0] if how in best else metrics["reward"])
            done += 1
            reporter.progress(0.15 + 0.55 * done / n_total,
                              f"episode {ep + 1}/{cfg.episodes} ({how}): accuracy {metrics['accuracy']:.3f}, "
                              f"{cfg.resource} {env.fraction(ratios):.1%}")
        save_state({"agent": agent.state_dict(), "rng": rng.bit_generator.state, "episode": ep + 1,
                    "episodes": cfg.episodes, "best": {k: list(v) for k, v in best.items()}}, ckpt)
    # the baselines at the same budget
    scores = [t.numpy() for t in channel_scores(base, plan, inputs, criterion=cfg.criterion)]
    policies = {"uniform": env.uniform(), "magnitude": env.global_magnitude(scores)}
    for how, ratios in policies.items():
        m, _ = evaluate_policy(ratios)
        best[how] = (m["reward"], ratios, m)
    for how, (_, ratios, _m) in best.items():
        for t, r in enumerate(ratios):
            reporter.series(f"preserve ratio by layer group/{how}", t, r)
    summary = _finish(cfg, hardware, reporter, base_net, base, plan, data, inputs, best, base_lat, budget,
                      time.perf_counter() - t0)
    shutil.rmtree(ckpt, ignore_errors=True)
    return summary


def _run_key(cfg: AMCConfig, base_net: Network, hardware: Any) -> str:
    blob = json.dumps({"c": cfg.to_dict(), "n": base_net.id, "h": getattr(hardware, "name", "")}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _finish(cfg, hardware, reporter, base_net, base, plan, data, inputs, best, base_lat, budget,
            search_s) -> Summary:
    order = [h for h in ("agent", "random", "uniform", "magnitude") if h in best]
    models: dict[str, nn.Module] = {}
    rows: dict[str, dict[str, Any]] = {}
    for k, how in enumerate(order):
        _, ratios, m = best[how]
        net = prune(base, plan, ratios, example_inputs=inputs, criterion=cfg.criterion)
        _recalibrate(net, data.calib)
        if cfg.finetune_epochs:
            train_model(net, data.train, epochs=cfg.finetune_epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                        optimizer="sgd", weight_decay=4e-5, seed=cfg.seed, drop_last=True,
                        progress=lambda f, msg, _x, how=how, k=k: reporter.progress(
                            0.7 + 0.2 * (k + f) / len(order), f"fine-tuning the {how} policy: {msg}"))
        models[how] = net.eval()
        rows[how] = {"accuracy": _accuracy(net, data.test), "accuracy_source": "fine-tuned" if cfg.finetune_epochs
                     else "pruned, not fine-tuned", "search_accuracy": m["accuracy"], "flops_ratio": m["flops_ratio"],
                     "params_ratio": m["params_ratio"], "macs": m["macs"], "params": m["params"],
                     "finetune_epochs": cfg.finetune_epochs, "policy": describe_policy(ratios)}
    reporter.progress(0.92, "latency of the original and the pruned networks")
    base_test = _accuracy(base, data.test)
    if getattr(hardware, "measurable", False):
        ms = measure_many([(base, inputs)] + [(models[h], inputs) for h in order], warmup=3, repeats=25, rounds=5,
                          threads=1)
        lat = {"original": (ms[0].median_ms, "measured", ms[0].spread_ms)}
        lat.update({h: (m.median_ms, "measured", m.spread_ms) for h, m in zip(order, ms[1:])})
    else:
        est = latency_for(hardware, problem=base_net.problem, purpose="final")
        lat = {"original": (base_lat.ms, base_lat.source, base_lat.spread_ms)}
        for h in order:
            e = est.estimate_model(models[h], inputs)
            lat[h] = (e.ms, e.source, e.spread_ms)
    parent = base_net
    if not cfg.network:  # the base network trained here is kept too, as the parent of the pruned ones
        parent = keep_network(reporter, base, name=base_net.name, spec=base_net.spec, problem=base_net.problem,
                              dataset=base_net.dataset, metrics={**base_net.metrics, "accuracy": base_test,
                                                                 "latency_ms": lat["original"][0],
                                                                 "latency_source": lat["original"][1]},
                              made_by=base_net.made_by, technique="amc", network_id=base_net.id)
    for how in order:
        ms_, src, spread = lat[how]
        r = rows[how]
        if cfg.resource == "latency":  # the limit, checked again on the final timing of the fine-tuned network
            r["within_budget_remeasured"] = ms_ <= budget * lat["original"][0]
        r.update(latency_ms=ms_, latency_source=src, latency_spread_ms=spread, speedup=lat["original"][0] / ms_,
                 original_latency_ms=lat["original"][0], within_budget=best[how][2]["within_budget"],
                 budget=budget, resource=cfg.resource, search=f"{how} (fine-tuned)")
        idx = reporter.candidate({"search": f"{how} (fine-tuned)", "ratios": [round(x, 4) for x in best[how][1]]}, r)
        spec = NetworkSpec("pruned", {"base": base_net.spec.to_dict(), "channels": kept_channels(plan, best[how][1])})
        keep_network(reporter, models[how], name=f"amc-{how}-{cfg.resource}{budget:.0%}".replace("%", "pct"),
                     spec=spec, problem=base_net.problem, dataset=data.name,
                     metrics={k: r[k] for k in ("accuracy", "accuracy_source", "latency_ms", "latency_source",
                                                "flops_ratio", "speedup") if r.get(k) is not None},
                     made_by=f"{how} pruning to {budget:.0%} of the {cfg.resource} ({cfg.criterion} channels), "
                             f"fine-tuned {cfg.finetune_epochs} epochs", technique="amc", parent=parent,
                     candidate=idx, primary=how == "agent")
    reporter.progress(1.0, "done")
    a = rows.get("agent", {})
    metrics: dict[str, Any] = {
        "acc_original": base_test, "acc_agent": a.get("accuracy"), "acc_uniform": rows["uniform"]["accuracy"],
        "acc_magnitude": rows["magnitude"]["accuracy"], "acc_random_search": rows.get("random", {}).get("accuracy"),
        "flops_ratio": a.get("flops_ratio"), "measured_speedup": a.get("speedup") if lat["original"][1] == "measured"
        else None, "speedup": a.get("speedup"), "latency_source": lat["original"][1], "budget": budget,
        "resource": cfg.resource, "layer_groups": len(plan.groups), "dataset": data.name, "search_wall_s": search_s,
        "original_latency_ms": lat["original"][0]}
    if not a:
        msg = "no agent policy met the budget"
    else:
        msg = (f"At {a['flops_ratio']:.0%} of the FLOPs: agent {a['accuracy']:.3f} vs uniform "
               f"{rows['uniform']['accuracy']:.3f}, magnitude {rows['magnitude']['accuracy']:.3f}"
               + (f", random search {rows['random']['accuracy']:.3f}" if "random" in rows else "")
               + f" (original {base_test:.3f}; fine-tuned {cfg.finetune_epochs} epochs each); "
                 f"{a['speedup']:.2f}x faster ({lat['original'][1]})")
        if a["accuracy"] < max(rows["uniform"]["accuracy"], rows["magnitude"]["accuracy"]):
            msg += "; the agent's policy did not beat the baselines in this run"
        if a.get("within_budget_remeasured") is False:
            msg += (f"; timed again with the others, the agent's network took {a['latency_ms']:.2f} ms, over the "
                    f"{budget * lat['original'][0]:.2f} ms limit")
        metrics["agent_within_limit_remeasured"] = a.get("within_budget_remeasured")
    if data.note:
        msg = f"{data.note}; {msg}"
    return Summary(msg, metrics)
