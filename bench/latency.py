"""Latency sources against measured latency on this CPU.

Held-out random MBConv architectures, drawn uniformly from the whole space
(every resolution, depth, kernel and expand ratio, as a search samples them):
MAPE and Kendall tau of the lookup table (calibrated on the training
architectures; the raw sum is reported too), the learned predictor (distilled
from the table, then fine-tuned on the measured training networks; the
predictor trained on measured networks alone is reported too) and the roofline
of the ``local-cpu`` profile, against latency measured here; and the
predictor's throughput in architectures scored per second (encoding included).

Protocol: one torch thread; ops, training networks and ``--copies``
independent copies of each held-out network measured interleaved in
``--rounds`` passes; each copy's latency is the median of ``--repeats`` runs of
the timing thread's CPU time (``--clock thread``: this box is shared with other
processes that preempt the timed runs; ``--clock wall`` times elapsed time).
The ground truth of a held-out network is the mean of its copies' medians.
Its own repeatability is printed: MAPE and tau between the two halves of the
copies (two independent measurements of the same networks), and an estimate
of the tau a noise-free estimator would reach against this ground truth (the
ceiling for any source).

    .venv/bin/python bench/latency.py [--quick] [--train 400 --test 100 --copies 4]

The last line printed is one JSON object of the figures (fractions, not percent).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.hardware import local_cpu_profile  # noqa: E402
from engine.hardware.latency import LookupTableLatency, PredictorLatency, RooflineLatency, train_predictor  # noqa: E402
from engine.ranking import kendall_tau, latency_errors  # noqa: E402
from engine.hardware.lut import build_lut  # noqa: E402
from engine.problems import ImageClassification  # noqa: E402
from engine.spaces import MBConvSpace  # noqa: E402


def ceiling_tau(truth: np.ndarray, half_a: np.ndarray, half_b: np.ndarray, rng: np.random.Generator,
                draws: int = 200) -> float:
    """Expected Kendall tau of a noise-free estimator against ``truth``, whose
    noise is estimated from two independent half measurements (log-normal
    noise; the mean of both halves has half the variance of one)."""
    sigma_half = float(np.std(np.log(half_a / half_b)) / np.sqrt(2))
    sigma = sigma_half / np.sqrt(2)
    return float(np.mean([kendall_tau(truth * np.exp(-sigma * rng.standard_normal(len(truth))), truth)
                          for _ in range(draws)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="finish within about a minute")
    ap.add_argument("--train", type=int, default=None, help="measured architectures to train/calibrate on")
    ap.add_argument("--test", type=int, default=100, help="held-out architectures")
    ap.add_argument("--copies", type=int, default=None, help="independent measurements of each held-out network (>= 2)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per module and copy")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--clock", default="thread", choices=("thread", "wall"))
    ap.add_argument("--epochs", type=int, default=None, help="predictor epochs on the measured networks")
    ap.add_argument("--lut-samples", type=int, default=None, help="architectures the predictor is distilled on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n_train = args.train or (100 if args.quick else 400)
    copies = max(2, args.copies or (2 if args.quick else 4))
    repeats = args.repeats or (6 if args.quick else 24)
    rounds = args.rounds or (3 if args.quick else 8)
    epochs = args.epochs or (100 if args.quick else 150)
    plain_epochs = 200 if args.quick else 400
    lut_samples = args.lut_samples or (4000 if args.quick else 20000)
    torch.manual_seed(args.seed)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    load_start = os.getloadavg()[0]
    space = MBConvSpace()
    problem = ImageClassification()
    profile = local_cpu_profile()
    rng = np.random.default_rng(args.seed)
    archs = space.sample_distinct(rng, n_train + args.test)
    train, test = archs[:n_train], archs[n_train:]
    ops = space.all_ops(problem)
    res, cnt = np.unique([a["resolution"] for a in test], return_counts=True)
    blocks = [sum(a["depths"]) for a in test]
    print(f"space mbconv: {len(ops)} distinct ops, resolutions {list(space.resolutions)}; held-out networks by "
          f"resolution {dict(zip(res.tolist(), cnt.tolist()))}, {min(blocks)}-{max(blocks)} blocks")
    print(f"measuring the ops, {n_train} training networks and {copies} copies of {len(test)} held-out networks "
          f"({repeats} runs each in {rounds} interleaved passes, 1 thread, {args.clock} clock, median); "
          f"load average {load_start:.1f} on {os.cpu_count()} CPUs", flush=True)
    t0 = time.perf_counter()
    table = build_lut(space, problem, threads=1, warmup=2, repeats=repeats, rounds=rounds, ops=ops,
                      archs=train + test * copies, clock=args.clock, seed=args.seed)
    t_measure = time.perf_counter() - t0
    ms = np.array([s["ms"] for s in table.samples])
    y_train = ms[:n_train]
    per_copy = ms[n_train:].reshape(copies, len(test))
    y_test = per_copy.mean(0)
    half_a, half_b = per_copy[: copies // 2].mean(0), per_copy[copies // 2:].mean(0)
    repeat = latency_errors(half_a, half_b)
    ceiling = ceiling_tau(y_test, half_a, half_b, np.random.default_rng(args.seed + 1))
    table.samples = table.samples[:n_train]
    raw = LookupTableLatency(table, space, calibrated=False).estimate_ms_many(test)
    table.calibrate(space, train, y_train)
    lut = LookupTableLatency(table, space).estimate_ms_many(test)
    t0 = time.perf_counter()
    pred = train_predictor(space, train, y_train, hidden=(128, 128), epochs=epochs, seed=args.seed, lut=table,
                           lut_samples=lut_samples)
    t_train = time.perf_counter() - t0
    est = PredictorLatency(pred, space)
    p = est.estimate_ms_many(test)
    t0 = time.perf_counter()
    plain = train_predictor(space, train, y_train, hidden=(128, 128), epochs=plain_epochs, seed=args.seed)
    t_plain = time.perf_counter() - t0
    p_plain = PredictorLatency(plain, space).estimate_ms_many(test)
    roof = RooflineLatency(profile, space, problem).estimate_ms_many(test)
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
            "predictor": latency_errors(p, y_test), "predictor_measured_only": latency_errors(p_plain, y_test),
            "roofline": latency_errors(roof, y_test)}
    wall, cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    cal = table.meta["calibration"]
    print(f"measured {len(ops)} ops and {n_train + copies * len(test)} networks in {t_measure:.1f} s; held-out "
          f"latency {y_test.min():.2f}-{y_test.max():.2f} ms ({y_test.max() / y_test.min():.1f}x); LUT calibration "
          f"{cal['scale']:.3f} x sum + {cal.get('per_op_ms', 0.0) * 1e3:.1f} us x ops + {cal['offset']:.3f} ms; predictor distilled on {lut_samples} LUT-labelled "
          f"architectures and fine-tuned in {t_train:.1f} s (measured-only predictor {t_plain:.1f} s)")
    print(f"ground truth repeatability (mean of {copies // 2} vs {copies - copies // 2} independent copies): "
          f"MAPE {repeat['mape']:.1%}, tau {repeat['kendall_tau']:.3f}; estimated tau ceiling of a noise-free "
          f"estimator against the {copies}-copy ground truth: {ceiling:.3f}")
    print(f"{'source':<24}{'MAPE':>8}{'RMSE ms':>10}{'Kendall tau':>13}")
    for src, e in errs.items():
        print(f"{src:<24}{e['mape']:>8.1%}{e['rmse_ms']:>10.3f}{e['kendall_tau']:>13.3f}")
    print(f"predictor throughput {throughput:,.0f} archs/s; LUT {lut_throughput:,.0f} archs/s; "
          f"targets: predictor MAPE <= 5% and tau >= 0.9, LUT MAPE <= 10%, >= 10,000 archs/s")
    print(f"{wall:.0f} s wall, {cpu:.0f} s CPU of this process ({cpu / wall:.0%} of one core); load average "
          f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    out = {"predictor_mape": errs["predictor"]["mape"], "predictor_kendall_tau": errs["predictor"]["kendall_tau"],
           "predictor_rmse_ms": errs["predictor"]["rmse_ms"],
           "predictor_measured_only_mape": errs["predictor_measured_only"]["mape"],
           "predictor_measured_only_kendall_tau": errs["predictor_measured_only"]["kendall_tau"],
           "lut_mape": errs["lut"]["mape"], "lut_kendall_tau": errs["lut"]["kendall_tau"],
           "lut_raw_mape": errs["lut_raw"]["mape"], "lut_calibration": cal, "lut_raw_kendall_tau": errs["lut_raw"]["kendall_tau"],
           "roofline_mape": errs["roofline"]["mape"], "roofline_kendall_tau": errs["roofline"]["kendall_tau"],
           "predictor_archs_per_s": throughput, "lut_archs_per_s": lut_throughput,
           "truth_repeat_mape": repeat["mape"], "truth_repeat_kendall_tau": repeat["kendall_tau"],
           "truth_tau_ceiling_est": ceiling, "test_latency_min_ms": float(y_test.min()),
           "test_latency_max_ms": float(y_test.max()),
           "train_archs": n_train, "test_archs": len(test), "test_copies": copies, "lut_entries": len(table.entries),
           "lut_distill_samples": lut_samples, "clock": args.clock, "repeats": repeats, "rounds": rounds,
           "quick": args.quick, "seconds": wall, "cpu_seconds": cpu, "load_avg_start": load_start,
           "load_avg_end": os.getloadavg()[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
