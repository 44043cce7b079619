"""HAQ: mixed precision searched for a bit-flexible accelerator against the best
uniform precision at the same latency budget; each profile's own policy against
the other's; real int8 on this CPU against fp32.

Measures, in one process, through the ``haq`` technique:
  1. A MobileNetV2 (width 1.0, 64 px, 3 channels) trained here on Fashion-MNIST
     (mnist-5k when it is not installed); latency priced on the BitFusion
     profile by the roofline with per-layer bits (an estimate, as HAQ's own
     simulator is); budget 0.6 x the W8A8 network's latency. The agent's best
     policy and the best uniform precision that meets the budget, each
     fine-tuned alike (quantisation-aware), tested on the test split.
  2. Cross-hardware: the search also runs for a second bit-flexible profile
     composed here ("bitfusion-narrow": BitFusion with an eighth of its memory
     bandwidth, so weights and activations cost more than MACs); each policy is
     priced on both. ``own_policy_fastest``: on each profile, no policy of the
     other's is faster there *and* as accurate on the test split (within one
     point) — the other profile's searched policy, and the fastest policy its
     search tried that the episode score put as accurate, each fine-tuned and
     tested like the own one (the episode score screens, the test split
     decides). ``own_policy_best_at_budget``: the same rivals as baselines
     at the same budget (as HAQ compares policies with fixed-precision
     ones): on each profile every rival either breaks that profile's budget
     or tests less accurate than the own policy.
  3. Real int8: the trained network in W8A8 with PyTorch's x86 quantised
     kernels, measured against fp32 on this CPU (interleaved medians).

``--profiles A,B`` picks the searched profile and the second one among
BitFusion and two variants composed here (``bitfusion-narrow``: memory
bandwidth / 8, memory-bound; ``bitfusion-wide``: x 8, compute-bound). At a
budget of 0.6 with 4 bits at least, BitFusion itself is at its floor
(uniform 4-bit is 0.594 of its W8A8 latency), so its searched policy is about
uniform 4-bit, the cheapest policy on any profile: against it another
profile's own policy can only win by accuracy. ``--profiles
bitfusion-wide,bitfusion-narrow`` is a pair whose budgets both leave room
(uniform 4-bit is 0.54 of W8A8 on each), where specialisation can show.

    .venv/bin/python bench/haq.py --quick    # a smoke of the whole bench: ~10 minutes, 16 episodes a search
    .venv/bin/python bench/haq.py            # the README's settings: 40 episodes; ~30 min a seed alone
    .venv/bin/python bench/haq.py --episodes 600   # HAQ's own search length (hours here)

``--confirm-top`` (default 3, 1 with ``--quick``): each search's result is
the best of its 3 best policies by episode score once each is fine-tuned,
chosen on the held-out training images (the test split never chooses); with
1, HAQ's own rule, one noisy episode score once kept a narrow-profile policy
that tested at 64 % (README).

``--quick`` runs every step (base network, both searches, uniform baselines,
cross-hardware rivals, int8) with 16 episodes of 4 fine-tuning batches scored
on 200 images: 8 of them random warm-up, so its policies say little; the
figures in the README come from the default settings, one seed per process
(``--first-seed N --seeds 1``).

The last line printed is one JSON object of the figures.

``--min-bits`` (default 4): with a few dozen episodes instead of HAQ's 600,
a policy drawn with 2-bit layers collapses a MobileNetV2 to chance after a
short fine-tune, every early reward is the same, and the agent learns
nothing; from 4 bits up the rewards differ and the agent can trade bits
between layers (e.g. 6-bit depthwise layers, which cost little on BitFusion,
against 4-bit pointwise ones). ``--min-bits 2`` runs the paper's range.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine.hardware import get_profile  # noqa: E402
from engine.hardware.measure import fixed_threads  # noqa: E402
from engine.haq.technique import _run  # noqa: E402
from engine.registry import techniques  # noqa: E402
from engine.reporter import MemoryReporter  # noqa: E402
from engine.seeding import deterministic  # noqa: E402


#: the bench's fewest bits per layer (see the module's docstring)
MIN_BITS = 4
#: BitFusion and two variants composed for the bench: memory bandwidth / 8 (memory-bound) and x 8 (compute-bound)
COMPOSED = {"bitfusion": 1.0, "bitfusion-narrow": 1 / 8, "bitfusion-wide": 8.0}


def composed(name: str):
    bitfusion = get_profile("bitfusion")
    f = COMPOSED[name]
    if f == 1.0:
        return bitfusion
    return dataclasses.replace(bitfusion, name=name, title=f"BitFusion with {'1/8 of' if f < 1 else '8x'} its memory "
                               "bandwidth (composed for this bench)", memory_bandwidth_gbs=bitfusion.memory_bandwidth_gbs * f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=None, help="search seeds (default: 1 with --quick, 3 otherwise)")
    ap.add_argument("--min-bits", type=int, default=MIN_BITS, help=f"fewest bits of a layer (default {MIN_BITS})")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run first-seed .. first-seed + seeds - 1 "
                    "(to spread seeds over processes)")
    ap.add_argument("--val-images", type=int, default=None, help="held-out training images that score each "
                    "episode (default 300, 200 with --quick; the technique's default is 500, and validation is most "
                    "of a search's time)")
    ap.add_argument("--confirm-top", type=int, default=None, help="each search's best policies by episode score "
                    "fine-tuned and compared on the held-out images (default 3, 1 with --quick; 1: the best "
                    "episode's, as HAQ)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the process (default 1, so that seeds "
                    "run side by side do not contend)")
    ap.add_argument("--profiles", default="bitfusion,bitfusion-narrow",
                    help="the searched profile and the second (cross-hardware) one, of " + ", ".join(COMPOSED)
                    + " (default bitfusion,bitfusion-narrow)")
    ap.add_argument("--episodes", type=int, default=None, help="agent episodes per search (default 40, 16 with "
                    "--quick; HAQ: 600)")
    args = ap.parse_args()
    if not 1 <= args.min_bits <= 7:
        ap.error("--min-bits must be in 1..7")
    seeds = args.seeds or (1 if args.quick else 3)
    episodes = args.episodes or (16 if args.quick else 40)
    val_images = args.val_images or (200 if args.quick else 300)
    if not 5 <= episodes <= 2000:
        ap.error("--episodes must be in 5..2000")
    confirm_top = args.confirm_top if args.confirm_top is not None else (1 if args.quick else 3)
    if not 1 <= confirm_top <= 10:
        ap.error("--confirm-top must be in 1..10")
    if not 1 <= args.threads <= 64:
        ap.error("--threads must be in 1..64")
    if not 50 <= val_images <= 10_000:
        ap.error("--val-images must be in 50..10000")
    if not 1 <= seeds <= 20:
        ap.error("--seeds must be in 1..20")
    names = args.profiles.split(",")
    if len(names) != 2 or names[0] == names[1] or not set(names) <= set(COMPOSED):
        ap.error(f"--profiles: two different names of {', '.join(COMPOSED)}, comma-separated")
    t0 = time.perf_counter()
    main_profile, second = (composed(n) for n in names)
    t = techniques.get("haq")
    runs = []
    if not 0 <= args.first_seed <= 10_000:
        ap.error("--first-seed must be in 0..10000")
    for seed in range(args.first_seed, args.first_seed + seeds):
        # the base network (3 epochs on 3,000 images) is cached by every setting that shapes it: --val-images
        # moves images between its training split and the held-out one, so --quick (200) trains its own
        cfg = t.parse({"dataset": "fashion-mnist", "base_model": "mobilenet_v2", "base_width": 1.0,
                       "resolution": 64, "base_epochs": 3, "train_limit": 3000, "episodes": episodes,
                       "warmup": min(8 if args.quick else 15, episodes // 2), "episode_batches": 4 if args.quick else 8,
                       "finetune_epochs": 1, "resource": "latency", "budget": 0.6, "min_bits": args.min_bits,
                       "val_images": val_images, "confirm_top": confirm_top, "threads": args.threads, "measure_int8": seed == args.first_seed,
                       "seed": seed})
        # (``_run`` for the composed second profile: seeded as the registry's ``run`` is)
        with fixed_threads(args.threads), deterministic(seed):
            s = _run(cfg, main_profile, MemoryReporter(), extra_profiles={second.name: second})
        print(f"seed {seed}: {s.message}", flush=True)
        runs.append(s.metrics)
    m = runs[0]
    mean = lambda k: float(np.mean([r[k] for r in runs if r.get(k) is not None]))  # noqa: E731
    out = {"latency_ratio_vs_w8a8": mean("latency_ratio_vs_w8a8"), "latency_source": m["latency_source"],
           "acc_fp32": mean("acc_fp32"), "acc_w8a8": mean("acc_w8a8"), "acc_mixed": mean("acc_mixed"),
           "acc_mixed_std": float(np.std([r["acc_mixed"] for r in runs if r["acc_mixed"] is not None])),
           "acc_uniform": mean("acc_uniform"),
           "acc_mixed_per_seed": [r["acc_mixed"] for r in runs], "acc_uniform_per_seed": [r["acc_uniform"] for r in runs],
           "mixed_beats_uniform_seeds": sum(1 for r in runs if r["acc_mixed"] is not None and r["acc_uniform"]
                                            is not None and r["acc_mixed"] > r["acc_uniform"]),
           "uniform_policy": [r["uniform_policy"] for r in runs], "budget": 0.6, "min_bits": args.min_bits,
           "budget_met_fraction": mean("budget_met_fraction"),
           "own_policy_fastest": all(bool(r.get("own_policy_fastest")) for r in runs),
           "own_policy_fastest_seeds": sum(1 for r in runs if r.get("own_policy_fastest")),
           "own_policy_best_at_budget": all(bool(r.get("own_policy_best_at_budget")) for r in runs),
           "own_policy_best_at_budget_seeds": sum(1 for r in runs if r.get("own_policy_best_at_budget")),
           "same_policy_seeds": sum(1 for r in runs if r.get("cross_same_policy")),
           "cross_hardware": [r.get("cross_hardware") for r in runs],
           "int8_measured_speedup": m.get("int8_measured_speedup"), "acc_int8": m.get("acc_int8"),
           "fp32_ms": m.get("fp32_ms"), "int8_ms": m.get("int8_ms"), "layers": m["layers"], "seeds": seeds,
           "seed_list": list(range(args.first_seed, args.first_seed + seeds)), "episodes": cfg.episodes, "val_images": cfg.val_images,
           "confirm_top": cfg.confirm_top, "confirmed_top": [r.get("confirmed_top") for r in runs],
           "profiles": names, "wall_s": time.perf_counter() - t0}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
