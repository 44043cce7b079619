"""Latency sources against measured latency on this CPU.

Held-out random MBConv architectures: MAPE and Kendall tau of the lookup table
(calibrated on the training architectures; the raw sum is reported too), the
learned predictor and the roofline of the ``local-cpu`` profile, against
latency measured here; and the predictor's throughput in architectures scored
per second (encoding included).

Protocol: one torch thread; ops and whole networks measured interleaved in
``--rounds`` passes; median of ``--repeats`` runs of the timing thread's CPU
time (``--clock thread``: this box is shared with other processes that preempt
the timed runs; ``--clock wall`` times elapsed time).

    .venv/bin/python bench/latency.py [--quick] [--train 400 --test 100]

The last line printed is one JSON object of the figures (fractions, not percent).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.hardware import LookupTableLatency, PredictorLatency, RooflineLatency, build_lut, local_cpu_profile  # noqa: E402
from engine.hardware.latency_eval import latency_errors  # noqa: E402
from engine.hardware.latency_predictor import train_predictor  # noqa: E402
from engine.latencymodel.technique import sample_unique  # noqa: E402
from engine.spaces import MBConvSpace  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="finish within about a minute")
    ap.add_argument("--train", type=int, default=None, help="measured architectures to train/calibrate on")
    ap.add_argument("--test", type=int, default=100, help="held-out architectures")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--clock", default="thread", choices=("thread", "wall"))
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_train = args.train or (150 if args.quick else 500)
    repeats = args.repeats or (4 if args.quick else 12)
    rounds = args.rounds or (2 if args.quick else 4)
    epochs = args.epochs or (200 if args.quick else 400)
    torch.manual_seed(args.seed)
    t_start = time.perf_counter()
    space = MBConvSpace()
    profile = local_cpu_profile()
    rng = np.random.default_rng(args.seed)
    archs = sample_unique(space, n_train + args.test, rng)
    train, test = archs[:n_train], archs[n_train:]
    ops = space.all_ops()
    print(f"space mbconv: {len(ops)} distinct ops; measuring them and {len(archs)} architectures "
          f"({repeats} runs in {rounds} interleaved passes, 1 thread, {args.clock} clock, median)", flush=True)
    t0 = time.perf_counter()
    table = build_lut(space, threads=1, warmup=2, repeats=repeats, rounds=rounds, ops=ops, archs=archs,
                      clock=args.clock, seed=args.seed)
    t_measure = time.perf_counter() - t0
    y = np.array([s["ms"] for s in table.samples])
    y_train, y_test = y[:n_train], y[n_train:]
    raw = LookupTableLatency(table, space, calibrated=False).estimate_ms_many(test)
    table.calibrate(space, train, y_train)
    lut = LookupTableLatency(table, space).estimate_ms_many(test)
    t0 = time.perf_counter()
    pred = train_predictor(space, train, y_train, hidden=(128, 128), epochs=epochs, seed=args.seed)
    t_train = time.perf_counter() - t0
    est = PredictorLatency(pred, space)
    p = est.estimate_ms_many(test)
    roof = RooflineLatency(profile, space).estimate_ms_many(test)
    # throughput: score 20,000 fresh architectures (encoding + MLP), best of 3
    many = [space.sample(rng) for _ in range(20000)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        est.estimate_ms_many(many)
        best = min(best, time.perf_counter() - t0)
    throughput = len(many) / best
    t0 = time.perf_counter()
    LookupTableLatency(table, space).estimate_ms_many(many[:5000])
    lut_throughput = 5000 / (time.perf_counter() - t0)
    errs = {"lut": latency_errors(lut, y_test), "lut_raw": latency_errors(raw, y_test),
            "predictor": latency_errors(p, y_test), "roofline": latency_errors(roof, y_test)}
    print(f"measured {len(archs)} architectures + {len(ops)} ops in {t_measure:.1f} s; "
          f"latency range {y.min():.2f}-{y.max():.2f} ms; LUT calibration {table.meta['calibration']['scale']:.3f} x "
          f"+ {table.meta['calibration']['offset']:.3f} ms; predictor trained in {t_train:.1f} s")
    print(f"{'source':<18}{'MAPE':>8}{'RMSE ms':>10}{'Kendall tau':>13}")
    for src, e in errs.items():
        print(f"{src:<18}{e['mape']:>8.1%}{e['rmse_ms']:>10.3f}{e['kendall_tau']:>13.3f}")
    print(f"predictor throughput {throughput:,.0f} archs/s; LUT {lut_throughput:,.0f} archs/s; "
          f"targets: predictor MAPE <= 5% and tau >= 0.9, LUT MAPE <= 10%, >= 10,000 archs/s")
    out = {"predictor_mape": errs["predictor"]["mape"], "predictor_kendall_tau": errs["predictor"]["kendall_tau"],
           "predictor_rmse_ms": errs["predictor"]["rmse_ms"],
           "lut_mape": errs["lut"]["mape"], "lut_kendall_tau": errs["lut"]["kendall_tau"],
           "lut_raw_mape": errs["lut_raw"]["mape"], "lut_raw_kendall_tau": errs["lut_raw"]["kendall_tau"],
           "roofline_mape": errs["roofline"]["mape"], "roofline_kendall_tau": errs["roofline"]["kendall_tau"],
           "predictor_archs_per_s": throughput, "lut_archs_per_s": lut_throughput,
           "train_archs": n_train, "test_archs": len(test), "lut_entries": len(table.entries),
           "clock": args.clock, "repeats": repeats, "rounds": rounds, "quick": args.quick,
           "seconds": time.perf_counter() - t_start}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
