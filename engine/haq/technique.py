"""The ``haq`` technique: HAQ (Wang et al., CVPR 2019), mixed precision with
hardware feedback.

1. The input network (a saved network, or a torchvision classifier trained
   here, as AMC does) and its conv / linear layers in execution order.
2. Episodes: the shared DDPG agent picks weight and activation bits per layer
   (:mod:`.env`); the budget (latency on the profile, or model size, as a
   fraction of the all-8-bit network) is enforced by lowering bits from the
   last layer back; the quantised network is fine-tuned briefly (a few
   batches, quantisation-aware through the shared training loop) and scored on
   held-out training images; reward 0.1 x (accuracy - the original's).
3. Baselines: uniform 8/6/5/4 bits (those that meet the budget); with
   ``other_profile`` the search runs for that profile too and each policy is
   priced on both (the cross-hardware table, judged at matched accuracy on
   the test split: :func:`_cross_hardware`).
4. The best policy, the best uniform one and the W8A8 reference are
   fine-tuned alike and tested; the searched network is kept (builder
   ``quantized``) with its parent.
5. Real int8: W8A8 with PyTorch's x86 quantised kernels, measured against
   fp32 on this CPU, interleaved.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..amc.technique import base_network, task_data
from ..config import ConfigBase, param
from ..data import DATASETS
from ..hardware.cost import profile_model
from ..hardware.measure import fixed_threads, measure_many
from ..hardware.profile import builtin_profiles
from ..modelzoo.zoo import MODELS
from ..networks import keep_network
from ..networks.builders import NetworkSpec
from ..reporter import Reporter, Summary
from ..search.agents import DDPGAgent, DDPGSettings
from ..training import classification_step, evaluate, train_model
from .env import (ENERGY_SOURCE, RESOURCES, QuantEnv, estimated_cost_table, load_cost_table, policy_cost,
                  write_layer_list)
from .quant import MODES, quantizable_layers, quantize

__all__ = ["HAQConfig", "run_haq"]


def _profile_names() -> tuple[str, ...]:
    return ("",) + tuple(p.name for p in builtin_profiles())


@dataclass(frozen=True)
class HAQConfig(ConfigBase):
    network: str = param("", help="The trained network to quantise; none: a torchvision classifier (base model) is "
                                  "trained here first", max_length=500, network=("image-classification",))
    dataset: str = param("fashion-mnist", choices=DATASETS, help="Data to score and fine-tune on")
    base_model: str = param("mobilenet_v2", choices=tuple(MODELS), help="Without a network: the classifier trained")
    base_width: float = param(0.5, min=0.25, max=2.0, help="Without a network: its width multiplier")
    base_epochs: int = param(4, min=1, max=100, help="Without a network: its training epochs (cached)")
    resolution: int = param(32, min=16, max=224, help="Without a network: input resolution (3 channels)")
    resource: str = param("latency", choices=RESOURCES,
                          help="What the budget limits: latency on the profile (roofline with per-layer bits, an "
                               "estimate), energy (per-op energies of Horowitz, ISSCC 2014, an estimate) or model "
                               "size")
    budget: float = param(0.6, min=0.05, max=1.0, help="Fraction of the all-8-bit network's latency / size")
    min_bits: int = param(2, min=1, max=7, help="Fewest bits of a layer's weights or activations")
    max_bits: int = param(8, min=2, max=8, help="Most bits")
    mode: str = param("linear", choices=MODES, help="linear (KL-clipped below 5 bits) or k-means weight sharing")
    per_channel: bool = param(True, help="Linear weights: one range per output channel (off: one per layer, "
                                         "clipped by KL divergence below 5 bits, as the reference code does)")
    episodes: int = param(60, min=2, max=5000, help="Search episodes (HAQ: 600)")
    warmup: int = param(20, min=1, max=1000, help="Episodes of random actions first (HAQ: 20)")
    episode_batches: int = param(8, min=0, max=1000, help="Quantisation-aware fine-tuning batches in each episode "
                                                          "before it is scored (HAQ: one short fine-tune)")
    other_profile: str = param("", choices=_profile_names(),
                               help="Also search for this profile and price both policies on both (the "
                                    "cross-hardware table)")
    cost_table: str = param("", help="A per-layer latency table for this profile in the HAQ reference code's layout: "
                                     "a NumPy .npy array of shape (layers, 8, 8), [layer, w_bits-1, a_bits-1] in ms "
                                     "(to build one: run HAQ once on your network; its page offers, under 'cost "
                                     "table', the rows in order and this table filled with the profile's estimate; "
                                     "time each conv / linear layer at every bit pair on the device, overwrite the "
                                     "entries, np.save, upload); replaces the roofline estimate",
                            max_length=500, advanced=True, file="npy")
    finetune_epochs: int = param(1, min=0, max=100, help="Fine-tuning epochs of the best and the uniform policy")
    confirm_top: int = param(1, min=1, max=10, help="Each search's best policies by episode score that are "
                                                    "fine-tuned (finetune_epochs) and scored again on the held-out "
                                                    "training images; the best of them is the search's result "
                                                    "(1: the best episode's, as HAQ; the test split never chooses)")
    measure_int8: bool = param(True, help="Run the network in real int8 (W8A8, PyTorch's x86 kernels) and measure "
                                          "it against fp32 on this CPU")
    train_limit: int = param(3000, min=100, max=100_000, help="Training images")
    val_images: int = param(500, min=50, max=10_000, help="Held-out training images that score each episode")
    bn_images: int = param(256, min=16, max=10_000, help="Training images that calibrate activation ranges")
    lr: float = param(0.01, min=1e-5, max=1.0, help="Learning rate of the base network's training")
    qat_lr: float = param(1e-3, min=1e-6, max=1.0, help="Learning rate of quantisation-aware fine-tuning")
    batch_size: int = param(64, min=8, max=1024, help="Batch size")
    threads: int = param(1, min=0, max=256, help="CPU threads (0: PyTorch's default)", advanced=True)
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed")

    def check(self) -> dict[str, str]:
        errors = {}
        if self.cost_table and not self.cost_table.endswith(".npy"):
            errors["cost_table"] = "must be a .npy file"
        if self.cost_table and self.resource != "latency":
            errors["cost_table"] = "a latency table needs resource=latency"
        if self.min_bits >= self.max_bits:
            errors["min_bits"] = "must be below max_bits"
        if self.warmup >= self.episodes:
            errors["warmup"] = "must be fewer than the episodes"
        return errors


def run_haq(config: HAQConfig, hardware: Any, reporter: Reporter) -> Summary:
    with fixed_threads(config.threads or None):
        return _run(config, hardware, reporter)


def _acc(model: nn.Module, loader) -> float:
    return float(evaluate(model, classification_step, loader)["acc"])


def _run(cfg: HAQConfig, hardware: Any, reporter: Reporter, extra_profiles: dict | None = None) -> Summary:
    t0 = time.perf_counter()
    base_net, base, _cached = base_network(cfg, reporter)  # type: ignore[arg-type]
    base = base.eval()
    problem = base_net.problem
    inputs = problem.example_inputs()
    data = task_data(cfg, base_net.dataset or cfg.dataset, problem)  # type: ignore[arg-type]
    layers = quantizable_layers(base, inputs)
    cost = profile_model(base, inputs)
    calib = [data.calib[i:i + 128] for i in range(0, len(data.calib), 128)]
    xs, ys = data.train.tensors
    short = torch.utils.data.TensorDataset(xs[: cfg.episode_batches * cfg.batch_size],
                                           ys[: cfg.episode_batches * cfg.batch_size])
    fp_acc = _acc(base, data.val)
    profiles = {hardware.name: hardware}
    if cfg.other_profile and cfg.other_profile != hardware.name:
        profiles[cfg.other_profile] = next(p for p in builtin_profiles() if p.name == cfg.other_profile)
    for p in (extra_profiles or {}).values():  # a bench's own second profile
        profiles[p.name] = p
    table = load_cost_table(cfg.cost_table, layers) if cfg.cost_table else None
    lat_source = "lut" if table is not None else "roofline"  # an uploaded table, labelled like every lookup table
    _cost_table_template(reporter, cost, layers, hardware)
    envs = {}
    for n, p in profiles.items():
        try:
            envs[n] = QuantEnv(cost, layers, p, cfg.resource, cfg.budget, cfg.min_bits, cfg.max_bits,
                               table=table if n == hardware.name else None)
        except ValueError as e:
            field = "budget" if n == hardware.name else "other_profile"
            hint = "" if p.bit_flexible else f" ({n} is not bit-flexible: fewer bits barely speed it up)"
            raise ValueError(f"{field}: on {n}, {e}{hint}") from None

    def score(policy, *, episode: bool = True) -> tuple[float, nn.Module]:
        q = quantize(base, layers, policy, calib, mode=cfg.mode, per_channel=cfg.per_channel)
        if episode and cfg.episode_batches:
            try:
                train_model(q, short, epochs=1, batch_size=cfg.batch_size, lr=cfg.qat_lr, optimizer="sgd",
                            schedule="constant", seed=cfg.seed, drop_last=True, grad_clip=1.0)
            except FloatingPointError:  # a policy too coarse to fine-tune: scored as quantised, untrained
                q = quantize(base, layers, policy, calib, mode=cfg.mode, per_channel=cfg.per_channel)
        return _acc(q, data.val), q

    # every profile's latency of a policy (the budget's resource may be the size)
    timing = {n: QuantEnv(cost, layers, p, "latency", 1.0, cfg.min_bits, cfg.max_bits,
                          table=table if n == hardware.name else None) for n, p in profiles.items()}

    def meets(pname: str, policy) -> bool:
        """Whether ``policy`` holds the budget on profile ``pname``."""
        return envs[pname].fraction(policy) <= cfg.budget + 1e-9

    def metrics_of(policy, acc: float) -> dict[str, Any]:
        out: dict[str, Any] = {"accuracy": acc, "accuracy_source": f"quantised, {cfg.episode_batches} fine-tuning "
                                                                  "batches", "reward": 0.1 * (acc - fp_acc),
                               "size_bytes": sum(i.weight_size * w / 8 for i, (w, _) in zip(layers, policy)),
                               "mean_weight_bits": float(np.mean([w for w, _ in policy])),
                               "mean_activation_bits": float(np.mean([a for _, a in policy]))}
        for n, t in timing.items():
            suffix = "" if n == hardware.name else f"_on_{n}"
            ms = t.price(policy)
            out[f"latency_ms{suffix}"] = ms
            out[f"latency_source{suffix}"] = lat_source if n == hardware.name else "roofline"
            out[f"latency_ratio_vs_w8a8{suffix}"] = ms / t.reference
        out["energy_uj"] = policy_cost(cost, layers, policy, hardware, "energy")
        out["energy_source"] = ENERGY_SOURCE
        out["budget_fraction"] = envs[hardware.name].fraction(policy)
        out["within_budget"] = meets(hardware.name, policy)
        return out

    best: dict[str, tuple[float, list, dict]] = {}
    confirmed: dict[str, dict[str, Any]] = {}  # confirm_top > 1: which of each search's top policies won
    tried: dict[str, list[tuple[list, float]]] = {}  # every search's (policy, accuracy) per episode
    searched_on: dict[str, str] = {}  # each search's profile
    met: list[bool] = []
    n_runs = len(envs)
    for k, (pname, env) in enumerate(envs.items()):
        agent = DDPGAgent(10, 0.0, 1.0, rng=np.random.default_rng(cfg.seed + 1), seed=cfg.seed,
                          settings=DDPGSettings(warmup=cfg.warmup, sigma_decay=0.99,
                                                buffer_size=128 * 2 * len(layers)))
        how = "agent" if pname == hardware.name else f"agent for {pname}"
        searched_on[how] = pname
        for ep in range(cfg.episodes):
            policy, transitions = env.episode(lambda s, t: agent.act(s, ep)[0])
            acc, _ = score(policy)
            m = metrics_of(policy, acc)
            agent.observe(transitions, m["reward"])
            agent.update()
            m.update(search=how, episode=ep, profile_searched=pname)
            if pname == hardware.name:
                met.append(bool(m["within_budget"]))
            reporter.candidate({"search": how, "episode": ep, "bits": [list(p) for p in policy]}, m)
            reporter.series(f"reward/{how}", ep, m["reward"])
            tried.setdefault(how, []).append((policy, acc))
            if m["within_budget"] or pname != hardware.name:
                if how not in best or m["reward"] > best[how][0]:
                    best[how] = (m["reward"], policy, m)
            reporter.progress(0.15 + 0.6 * (k + (ep + 1) / cfg.episodes) / n_runs,
                              f"{how}: episode {ep + 1}/{cfg.episodes}, accuracy {acc:.3f}, "
                              f"{cfg.resource} {env.fraction(policy):.0%} of W8A8")
    env = envs[hardware.name]
    uniform_ok = []
    for b in (8, 6, 5, 4):
        pol = env.uniform(b)
        if meets(hardware.name, pol):
            acc, _ = score(pol)
            m = metrics_of(pol, acc)
            m.update(search=f"uniform {b}-bit", episode=-1)
            reporter.candidate({"search": f"uniform {b}-bit", "bits": [list(p) for p in pol]}, m)
            uniform_ok.append((m["reward"], pol, m, b))
    finals = {}
    tested: dict[tuple, tuple[float, nn.Module, dict[str, Any], int]] = {}
    n_confirm = (cfg.confirm_top - 1) * len(envs)
    n_final = n_confirm + 2 + 1 + (3 if len(profiles) > 1 else 0)  # W8A8, and up to 3 cross-hardware rivals

    def final_test(pol, how: str) -> tuple[float, nn.Module, dict[str, Any], int]:
        """A policy quantised, fine-tuned ``finetune_epochs`` alike (same seed and
        batches for every policy), scored on the test split (and on the
        held-out training images, ``val_accuracy``: what chooses among a
        search's top policies) and reported as a candidate; once per policy:
        (test accuracy, module, metrics, candidate index)."""
        key = tuple(map(tuple, pol))
        if key not in tested:
            j = len(tested)
            q = quantize(base, layers, pol, calib, mode=cfg.mode, per_channel=cfg.per_channel)
            if cfg.finetune_epochs:
                train_model(q, data.train, epochs=cfg.finetune_epochs, batch_size=cfg.batch_size, lr=cfg.qat_lr,
                            optimizer="sgd", seed=cfg.seed, drop_last=True, grad_clip=1.0,
                            progress=lambda f, msg, _x: reporter.progress(
                                0.75 + 0.15 * min(1.0, (j + f) / n_final), f"fine-tuning {how}: {msg}"))
            acc = _acc(q, data.test)
            m = metrics_of(pol, acc)
            m.update(accuracy_source=f"quantisation-aware fine-tuned {cfg.finetune_epochs} epochs, test split",
                     search=f"{how} (fine-tuned)", val_accuracy=_acc(q, data.val),
                     val_accuracy_source=f"fine-tuned alike, {len(data.val.dataset)} held-out training images")
            idx = reporter.candidate({"search": f"{how} (fine-tuned)", "bits": [list(p) for p in pol]}, m)
            tested[key] = (acc, q, m, idx)
        return tested[key]

    if cfg.confirm_top > 1:  # each search's result: the best of its top policies after the fine-tune, by val
        for how in list(best):
            pname = searched_on[how]
            ranked, seen = [], set()
            for pol, acc in sorted(tried[how], key=lambda t: -t[1]):
                key = tuple(map(tuple, pol))
                # (as for ``best``: the searched profile's policies count only within its budget)
                if key not in seen and (pname != hardware.name or meets(pname, pol)):
                    seen.add(key)
                    ranked.append((pol, acc))
            top = ranked[:cfg.confirm_top]
            vals = [final_test(pol, how)[2]["val_accuracy"] for pol, _ in top]
            r = int(np.argmax(vals))  # ties: the better episode score
            pol, acc = top[r]
            best[how] = (0.1 * (acc - fp_acc), pol, {**metrics_of(pol, acc), "confirm_rank": r + 1})
            confirmed[how] = {"ranks": len(top), "chosen_rank": r + 1, "val_accuracies": vals}
    if "agent" in best:
        finals["agent"] = best["agent"][1]
    if uniform_ok:
        top = max(uniform_ok, key=lambda t: t[0])
        finals[f"uniform {top[3]}-bit"] = top[1]

    rows: dict[str, dict[str, Any]] = {}
    for how, pol in finals.items():
        acc, q, m, idx = final_test(pol, how)
        rows[how] = m
        for i, (w, a) in enumerate(pol):
            reporter.series(f"weight bits by layer/{how}", i, w)
            reporter.series(f"activation bits by layer/{how}", i, a)
        if how == "agent":
            keep_network(reporter, q.eval(), name=f"haq-{hardware.name}-{cfg.resource}{cfg.budget:.0%}".replace(
                "%", "pct"), spec=NetworkSpec("quantized", {"base": base_net.spec.to_dict(),
                                                            "policy": [list(p) for p in pol], "mode": cfg.mode,
                                                            "per_channel": cfg.per_channel}),
                problem=problem, dataset=data.name,
                metrics={k: m[k] for k in ("accuracy", "accuracy_source", "latency_ms", "latency_source",
                                           "size_bytes", "mean_weight_bits")},
                made_by=f"HAQ mixed precision for {hardware.name} at {cfg.budget:.0%} of the W8A8 {cfg.resource}, "
                        f"fine-tuned {cfg.finetune_epochs} epochs (fake-quantised weights and the bit assignment)",
                technique="haq", parent=base_net if cfg.network else None, candidate=idx, primary=True)

    def tested_candidate(pol, how: str) -> float:
        """A policy beside the finals (the W8A8 reference, the cross-hardware
        rivals): its test accuracy, fine-tuned alike, shown as a candidate."""
        return final_test(pol, how)[0]

    acc_w8a8 = tested_candidate(env.uniform(8), "uniform 8-bit")  # the reference the budget is a fraction of
    cross: dict[str, Any] = {}
    other = [n for n in profiles if n != hardware.name]
    if other and "agent" in best and f"agent for {other[0]}" in best:
        cross = _cross_hardware(hardware.name, other[0], best, tried, timing, tested_candidate,
                                tolerance=CROSS_TOLERANCE,
                                within=meets)
    int8 = _int8(base, inputs, calib, data) if cfg.measure_int8 else {}
    if int8:
        q8 = int8.pop("module")
        # timed on this CPU, not on the profile: kept off the profile's latency axis
        reporter.candidate({"search": "int8 (real, x86 kernels)"}, {
            "accuracy": int8["acc_int8"], "accuracy_source": "post-training int8, test split",
            "cpu_int8_latency_ms": int8["int8_ms"], "cpu_int8_latency_source": "measured",
            "cpu_fp32_latency_ms": int8["fp32_ms"], "cpu_fp32_latency_source": "measured",
            "size_bytes": sum(i.weight_size for i in layers), "search": "int8 (real, x86 kernels)"})
        try:  # the int8 model as TorchScript, to run with PyTorch's quantised kernels elsewhere
            path = reporter.workdir / "int8-w8a8.pt"
            with torch.no_grad():
                torch.jit.trace(q8, tuple(inputs)).save(str(path))
            reporter.artifact("pt", path, "W8A8 int8 network (TorchScript, x86 quantised kernels)", group="models")
        except Exception:  # noqa: BLE001 - a model the tracer cannot take has no download; the figures stand
            pass
    reporter.progress(1.0, "done")
    a = rows.get("agent", {})
    u = next((r for k, r in rows.items() if k.startswith("uniform")), {})
    metrics = {"acc_fp32": _acc(base, data.test), "acc_w8a8": acc_w8a8, "acc_mixed": a.get("accuracy"),
               "acc_uniform": u.get("accuracy"),
               "uniform_policy": next((k for k in rows if k.startswith("uniform")), None),
               "latency_ratio_vs_w8a8": a.get("latency_ratio_vs_w8a8"), "latency_source": lat_source,
               "budget_met_fraction": float(np.mean(met)) if met else None, "layers": len(layers),
               "profile": hardware.name,
               "wall_s": time.perf_counter() - t0, **{k: v for k, v in cross.items()}, **int8}
    if confirmed:
        metrics["confirmed_top"] = confirmed
    msg = (f"Mixed precision for {hardware.name} at {a.get('budget_fraction', float('nan')):.0%} of the W8A8 "
           f"{cfg.resource} ({lat_source} estimate): accuracy {a.get('accuracy', float('nan')):.3f}"
           + (f" vs {metrics['uniform_policy']} {u['accuracy']:.3f}" if u else " (no uniform precision meets the "
              "budget)") + f"; W8A8 {acc_w8a8:.3f}, fp32 {metrics['acc_fp32']:.3f}")
    if int8:
        msg += f"; real int8 {int8['int8_measured_speedup']:.2f}x faster than fp32 here (measured)"
    if cross and cross["cross_same_policy"]:
        msg += ("; both searches chose the same policy, so the cross-hardware comparison is a tie (no "
                "specialisation shown)")
    elif cross:
        msg += ("; at matched test accuracy each profile's own policy is the fastest on it" if cross["own_policy_fastest"]
                else "; at matched test accuracy a profile's own policy was NOT the fastest on it in this run ("
                + ", ".join(r["profile"] for r in cross["cross_hardware"] if not r["own_fastest"]) + ")")
        if "own_policy_best_at_budget" in cross:
            lost = [r["profile"] for r in cross["cross_hardware"] if not r["own_best_at_budget"]]
            msg += ("; at each profile's budget no other policy is more accurate there (the other's either breaks "
                    "the budget or tests lower)" if not lost else "; at the budget of " + ", ".join(lost)
                    + " a policy of the other's meets it and tests more accurate than the own policy")
        if any(r["screen_disagrees"] for r in cross["cross_hardware"]):
            msg += ("; a rival the episode score matched was less accurate on the test split ("
                    + ", ".join(r["profile"] for r in cross["cross_hardware"] if r["screen_disagrees"]) + ")")
    return Summary(msg, metrics)


def _cost_table_template(reporter: Reporter, cost, layers, hardware) -> None:
    """How to build a measured cost table for this network: its layer list (the
    table's rows, in order) and the table in the reference layout filled with
    this profile's roofline estimate, to overwrite with device timings."""
    rows = reporter.workdir / "cost-table-layers.csv"
    write_layer_list(rows, cost, layers)
    reporter.artifact("csv", rows, f"Cost table rows: the {len(layers)} conv / linear layers, in the order a "
                      "(layers, 8, 8) table must follow", group="cost table")
    est = reporter.workdir / f"cost-table-estimate-{hardware.name}.npy"
    np.save(est, estimated_cost_table(cost, layers, hardware), allow_pickle=False)
    reporter.artifact("npy", est, f"Cost table in HAQ's layout [layer, w_bits-1, a_bits-1], ms: a roofline "
                      f"ESTIMATE for {hardware.name}; replace each entry with the time measured on your device "
                      "and upload it as cost_table", group="cost table")


#: accuracies within this of each other count as matched in the cross-hardware comparison
CROSS_TOLERANCE = 0.01


def _cross_hardware(mine: str, other: str, best: dict, tried: dict, timing: dict, confirm, *,
                    tolerance: float, within=None) -> dict[str, Any]:
    """HAQ's claim (their cross-hardware table), judged at matched accuracy on
    the real evaluation. On each profile, its own searched policy against
    (a) the other profile's searched policy, and (b) the fastest policy the
    other's search tried whose episode score came within ``tolerance`` of the
    own policy's (screened on held-out training images, a noisy score).
    ``confirm(policy, label)`` gives a policy's test accuracy after the same
    fine-tuning as the own one; the own policy loses on a profile only when a
    rival is faster there *and* confirmed as accurate (within ``tolerance``).
    A lower-bit policy is faster everywhere, so latency alone proves nothing;
    a rival the screen matched but the test split did not is reported as such.

    ``within(profile, policy)`` (whether a policy meets that profile's budget)
    adds a second verdict, the other's policies as baselines *at the same
    budget* (as HAQ compares its policies with fixed-precision ones): on each
    profile, every rival either breaks its budget there or is less accurate
    on the test split than the own policy (``own_best_at_budget``). The own policy spends its whole
    budget for accuracy, so this verdict can hold where the matched-accuracy
    one does not (a rival a little cheaper and a little less accurate)."""
    own = {mine: best["agent"], other: best[f"agent for {other}"]}
    searched_by = {mine: "agent", other: f"agent for {other}"}
    rows = []
    for here, there in ((mine, other), (other, mine)):
        _, pol, m = own[here]
        own_ms, own_acc = timing[here].price(pol), confirm(pol, searched_by[here])
        theirs = own[there][1]
        row: dict[str, Any] = {"profile": here, "own_ms": own_ms, "own_acc": own_acc, "other": there,
                               "same_policy": [tuple(x) for x in pol] == [tuple(x) for x in theirs],
                               "other_ms": timing[here].price(theirs), "other_acc": confirm(theirs, searched_by[there]),
                               "rival_ms": None, "rival_screen_acc": None, "rival_acc": None}
        screened = [(timing[here].price(p), a, p) for p, a in tried[searched_by[there]]
                    if a >= m["accuracy"] - tolerance and timing[here].price(p) < own_ms and p != theirs]
        rival_pol = None
        if screened:
            ms, a, rival_pol = min(screened, key=lambda t: t[0])
            row.update(rival_ms=ms, rival_screen_acc=a, rival_own_screen_acc=m["accuracy"],
                       rival_acc=confirm(rival_pol, f"{searched_by[there]}: its fastest policy screened as matched on {here}"))
        beaten_by = [name for name, ms, acc in (("other", row["other_ms"], row["other_acc"]),
                                                 ("rival", row["rival_ms"], row["rival_acc"]))
                     if ms is not None and ms < own_ms and acc >= own_acc - tolerance]
        row["own_fastest"] = not beaten_by
        row["beaten_by"] = beaten_by
        row["screen_disagrees"] = row["rival_acc"] is not None and row["rival_acc"] < own_acc - tolerance
        if within is not None:
            row["other_within_budget"] = bool(within(here, theirs))
            row["rival_within_budget"] = bool(within(here, rival_pol)) if rival_pol is not None else None
            row["beaten_at_budget_by"] = [name for name, ok, acc in (
                ("other", row["other_within_budget"], row["other_acc"]),
                ("rival", row["rival_within_budget"], row["rival_acc"])) if ok and acc > own_acc]
            row["own_best_at_budget"] = not row["beaten_at_budget_by"]
        rows.append(row)
    verdicts = {} if within is None else {"own_policy_best_at_budget": all(r["own_best_at_budget"] for r in rows)}
    # both searches ending on one policy (the agents share their seed, so their warm-up draws are alike) is a tie
    # on both profiles: no specialisation shown, whatever the verdicts say
    return {"cross_hardware": rows, "own_policy_fastest": all(r["own_fastest"] for r in rows), **verdicts,
            "cross_same_policy": any(r["same_policy"] for r in rows),
            "cross_matched_tolerance": tolerance,
            **{f"{r['profile']}: policy for {p} (ms)": r["own_ms"] if p == r["profile"] else r["other_ms"]
               for r in rows for p in (r["profile"], r["other"])}}


def _int8(base: nn.Module, inputs, calib, data) -> dict[str, Any]:
    """W8A8 with PyTorch's quantised x86 kernels (FX graph mode), against fp32, measured here."""
    import copy
    import warnings

    try:
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.quantized.engine = "x86"
            prepared = prepare_fx(copy.deepcopy(base).eval(), get_default_qconfig_mapping("x86"), tuple(inputs))
            with torch.no_grad():
                for x in calib:
                    prepared(x)
            q = convert_fx(prepared)
    except Exception:  # noqa: BLE001 - a network FX cannot trace has no int8 figure
        return {}
    fp, i8 = measure_many([(base, tuple(inputs)), (q, tuple(inputs))], warmup=3, repeats=25, rounds=5, threads=1)
    return {"fp32_ms": fp.median_ms, "int8_ms": i8.median_ms, "int8_measured_speedup": fp.median_ms / i8.median_ms,
            "acc_int8": _acc(q, data.test), "module": q}
