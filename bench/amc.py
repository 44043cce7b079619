"""AMC: the agent's pruning policy against uniform, global-magnitude and random
search at the same budget, after equal fine-tuning; FLOPs hit; the measured
CPU speed-up; a latency-aware run against the FLOPs-aware one.

Measures, in one process, through the ``amc`` technique (the same code the
dashboard runs):
  1. FLOPs-aware AMC at 50 % of the FLOPs on a MobileNetV2 (width 0.5, 32 px,
     3 channels) trained here on Fashion-MNIST (mnist-5k when it is not
     installed): DDPG episodes beside random search at equal episodes; uniform
     and global-magnitude pruning at the same budget; the four policies
     fine-tuned alike and tested on the test split; the original and the four
     measured together on this CPU (interleaved, median of 25 x 5 rounds).
     Per seed, and the mean over seeds.
  2. Latency-aware AMC with the FLOPs-aware agent network's measured latency as
     its limit: the latency-aware winner's measured latency and accuracy beside
     the FLOPs-aware one's (``latency_aware_vs_flops_aware``: latency ratio,
     < 1 means the latency-aware network is faster at the same limit).

    .venv/bin/python bench/amc.py --quick    # a few minutes on 2 cores (1 seed, 60 episodes)
    .venv/bin/python bench/amc.py            # 3 seeds, 200 episodes

The last line printed is one JSON object of the figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.hardware import get_profile  # noqa: E402
from engine.registry import techniques  # noqa: E402
from engine.reporter import MemoryReporter  # noqa: E402


def run(settings: dict) -> tuple[dict, list, object]:
    """One AMC run; its metrics, candidates, and the agent's pruned network (module, problem)."""
    from engine.networks import load_network
    from engine.outputs import NetworkOutput

    t = techniques.get("amc")
    rep = MemoryReporter()
    summary = t.run(t.parse(settings), get_profile("local-cpu"), rep)
    print(summary.message, flush=True)
    agent = next(load_network(o.folder) for o in rep.outputs
                 if isinstance(o, NetworkOutput) and o.folder.name.startswith("amc-agent"))
    return summary.metrics, rep.candidates, agent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    base = {"dataset": "fashion-mnist", "base_model": "mobilenet_v2", "base_width": 0.5, "resolution": 32,
            "base_epochs": 3 if args.quick else 6, "train_limit": 3000 if args.quick else 8000,
            "val_images": 500, "bn_images": 256, "episodes": 60 if args.quick else 200,
            "warmup": 20 if args.quick else 50, "finetune_epochs": 2 if args.quick else 4, "budget": 0.5,
            "threads": 1}
    t0 = time.perf_counter()
    per_seed = []
    for seed in seeds:
        m, cands, net = run({**base, "seed": seed, "resource": "flops"})
        if seed == seeds[0]:
            flops_net = net
        agent = next(c for a, c in cands if a["search"] == "agent (fine-tuned)")
        per_seed.append({**m, "agent_latency_ms": agent["latency_ms"]})
        print(json.dumps({"seed": seed, **{k: m[k] for k in ("acc_original", "acc_agent", "acc_uniform",
                                                              "acc_magnitude", "acc_random_search", "flops_ratio",
                                                              "measured_speedup")}}), flush=True)
    flops_aware = per_seed[0]
    limit = flops_aware["agent_latency_ms"]
    lm, lcands, lat_net = run({**base, "seed": seeds[0], "resource": "latency", "latency_budget_ms": limit})
    lat_agent = next(c for a, c in lcands if a["search"] == "agent (fine-tuned)")
    # the two winners timed together, interleaved (the runs' own figures were taken minutes apart)
    from engine.hardware.measure import measure_many

    (fa, fmod), (la, lmod) = flops_net, lat_net
    both = measure_many([(fmod, fa.problem.example_inputs()), (lmod, la.problem.example_inputs())], warmup=5,
                        repeats=30, rounds=7, threads=1)

    def mean(key: str) -> float | None:
        vals = [s[key] for s in per_seed if s.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    def sd(key: str) -> float | None:
        vals = [s[key] for s in per_seed if s.get(key) is not None]
        return statistics.stdev(vals) if len(vals) > 1 else None

    out = {
        "flops_ratio": mean("flops_ratio"), "flops_target": 0.5,
        "flops_within_2pct_of_target": all(abs(s["flops_ratio"] - 0.5) <= 0.02 for s in per_seed),
        "acc_original": mean("acc_original"), "acc_agent": mean("acc_agent"), "acc_agent_sd": sd("acc_agent"),
        "acc_uniform": mean("acc_uniform"), "acc_uniform_sd": sd("acc_uniform"), "acc_magnitude": mean("acc_magnitude"),
        "acc_random_search": mean("acc_random_search"), "measured_speedup": mean("measured_speedup"),
        "latency_limit_ms": limit, "latency_aware_ms": lat_agent["latency_ms"],
        "latency_aware_acc": lat_agent["accuracy"], "flops_aware_ms": limit, "flops_aware_acc": flops_aware["acc_agent"],
        "latency_aware_vs_flops_aware": both[1].median_ms / both[0].median_ms,
        "side_by_side_ms": {"flops_aware": both[0].median_ms, "latency_aware": both[1].median_ms},
        "latency_aware_within_limit": lat_agent["latency_ms"] <= limit * 1.05,
        "seeds": len(seeds), "episodes": base["episodes"], "dataset": flops_aware["dataset"],
        "per_seed": [{k: s[k] for k in ("acc_agent", "acc_uniform", "acc_magnitude", "acc_random_search",
                                        "flops_ratio", "measured_speedup")} for s in per_seed],
        "wall_s": time.perf_counter() - t0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
