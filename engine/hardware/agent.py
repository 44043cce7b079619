"""Device agent: build a target device's latency lookup table.

Run on the device itself (it needs only torch, numpy, pyyaml and this engine)::

    python -m engine.hardware.agent --space mbconv --out lut.json \
        [--samples 100 --threads 4 --repeats 20 --warmup 5 --rounds 4 --device cpu|cuda]

It measures every distinct op configuration of the search space once (the
lookup table) and ``--samples`` random whole architectures (to check and
calibrate the table), then writes one JSON file to upload on the profile's
page or through the API (``validate_lut_json`` checks it there).

Measurement protocol (the README copies this):

1. **Threads fixed**: ``torch.set_num_threads(--threads)`` for the whole run;
   the count is recorded in the table.
2. **Inputs**: batch 1, the problem's seeded example inputs at the op's or network's shape;
   modules in eval mode under ``torch.inference_mode``; garbage collection paused
   while timing.
3. **Warm-up**: ``--warmup`` untimed runs of each module before its first timed
   run (one more before each later pass), so caches, allocators and cuDNN
   autotuning settle.
4. **Repeats, interleaved**: ``--repeats`` timed runs per module split over
   ``--rounds`` passes over all modules, so a burst of load from other
   processes spreads over many modules instead of spoiling one.
5. **GPU synchronisation**: on CUDA, ``torch.cuda.synchronize()`` before and
   after each timed run, so the time covers the kernels, not just their launch.
6. **Statistics**: per entry the mean, standard deviation, median,
   inter-quartile spread, minimum and count are stored; ``--statistic`` (median
   by default) names the figure summed per candidate. ``--clock wall`` (default)
   times elapsed time; ``--clock thread`` (with ``--threads 1``) the thread's
   CPU time, for a shared machine where other processes preempt the runs. The table records the device, thread count, torch version, date,
   space and this protocol.
7. **Calibration**: the whole-network samples fit ``measured = scale x sum +
   per_op_ms x ops + offset`` (isolated ops run with warm caches and without the
   network's container overhead), stored in ``meta.calibration``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..problems import ImageClassification, Problem
from .lut.build import build_lut
from .measure import CLOCKS, STATISTICS

__all__ = ["main", "run_agent"]


def _bar(total: int, desc: str, quiet: bool):
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, disable=quiet, unit="run", file=sys.stderr)
    except ImportError:  # tqdm is optional on the device
        class _NoBar:
            def update(self, n: int = 1) -> None: ...
            def close(self) -> None: ...
        return _NoBar()


def run_agent(*, space_name: str = "mbconv", samples: int = 100, threads: int = 1, repeats: int = 20,
              warmup: int = 5, rounds: int = 4, device: str = "cpu", seed: int = 0, statistic: str = "median",
              clock: str = "wall", problem: Problem = ImageClassification(), space_params: dict | None = None,
              quiet: bool = False) -> dict:
    """Build the table and the measured samples for ``problem``; returns the JSON document."""
    from ..spaces import get_space
    space = get_space(space_name, **(space_params or {}))
    ops = space.all_ops(problem)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(samples)]
    t0 = time.perf_counter()
    bar = _bar((len(ops) + len(archs)) * rounds, f"{space_name}: {len(ops)} ops + {len(archs)} architectures", quiet)
    last = [0]

    def tick(done: int, total: int) -> None:
        bar.update(done - last[0])
        last[0] = done

    table = build_lut(space, problem, device=device, threads=threads, warmup=warmup, repeats=repeats, rounds=rounds,
                      ops=ops, archs=archs, seed=seed,
                      statistic=statistic, clock=clock, progress=tick)
    bar.close()
    if len(table.samples) >= 3:
        table.calibrate(space)
    table.meta["agent"] = {"command": "python -m engine.hardware.agent", "seconds": round(time.perf_counter() - t0, 1),
                           "samples": samples, "seed": seed}
    return table.to_json()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.hardware.agent",
                                 description="Build this device's latency lookup table for a search space.")
    ap.add_argument("--space", default="mbconv", help="registered search space (default mbconv)")
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--samples", type=int, default=100, help="random whole architectures to measure (0-20000)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, fixed for the run (>= 1)")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per op / architecture (>= 1)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs before the first timed run (>= 0)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved passes the repeats are split over (>= 1)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda[:n]")
    ap.add_argument("--statistic", default="median", choices=STATISTICS, help="figure summed per candidate")
    ap.add_argument("--clock", default="wall", choices=CLOCKS,
                    help="wall time (default) or, with --threads 1 on a shared CPU, the thread's CPU time")
    ap.add_argument("--num-classes", type=int, default=10, help="classifier outputs (default 10)")
    ap.add_argument("--channels", type=int, default=3, help="input image channels (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sampled architectures")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    for name, lo in (("samples", 0), ("threads", 1), ("repeats", 1), ("warmup", 0), ("rounds", 1)):
        if getattr(args, name) < lo:
            ap.error(f"--{name} must be >= {lo}")
    if args.samples > 20000:
        ap.error("--samples must be <= 20000")
    if args.clock == "thread" and (args.threads != 1 or args.device != "cpu"):
        ap.error("--clock thread needs --threads 1 and --device cpu")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda asked but CUDA is not available")
    try:
        problem = ImageClassification(channels=args.channels, classes=args.num_classes)
    except ValueError as e:
        ap.error(str(e))
    doc = run_agent(space_name=args.space, samples=args.samples, threads=args.threads, repeats=args.repeats,
                    warmup=args.warmup, rounds=args.rounds, device=args.device, seed=args.seed,
                    statistic=args.statistic, clock=args.clock, problem=problem, quiet=args.quiet)
    out = Path(args.out)
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    cal = doc["meta"].get("calibration")
    print(f"wrote {out}: {len(doc['entries'])} ops, {len(doc['samples'])} measured architectures"
          + (f", calibration scale {cal['scale']:.3f}, per op {cal.get('per_op_ms', 0.0):.4f} ms, "
             f"offset {cal['offset']:.3f} ms" if cal else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
