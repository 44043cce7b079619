"""SparseNets: the paper's parameter counts, and SparseNet against DenseNet at
matched depth on the offline task.

Measures, in one run:
  1. Parameter counts of the paper's networks (CIFAR-100: 32x32x3 in, 100
     classes) built by the aggregation space, against the paper's table:
     DenseNet-40-12 1.1M, SparseNet-40-24 0.76M, DenseNet-100-24 28.28M,
     SparseNet-100-{16,32,64} 7.22M, DenseNet-BC-100-12 0.8M, SparseNet-BC-100-24
     1.46M (the issue asks for within 3 %).
  2. The offline task (Fashion-MNIST, 28 px, through the ``sparsenet``
     technique, equal epochs and data, the same seed): DenseNet-40-6 and
     SparseNet-40-12 (the paper's depth-40 pair, DenseNet-40-12 / SparseNet-40-24,
     at half the growth rates), and their depth-16 versions: test accuracy,
     parameters, the training memory measured (one real SGD step at batch 32:
     bytes autograd saves, deduplicated by storage, + parameters, gradients,
     momentum) and latency measured on this machine (batch 1, one thread,
     median). Ratios sparse / dense at depth 40, and how each grows from depth
     16 to 40. Paper: SparseNet reaches DenseNet's accuracy with fewer
     parameters, and its memory and latency grow more slowly with depth.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sparsenet.py            # full (about 20 minutes on one core)
    OMP_NUM_THREADS=1 .venv/bin/python bench/sparsenet.py --quick    # about 3 minutes

The last line printed is one JSON object of the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine import MemoryReporter, techniques  # noqa: E402
from engine.hardware import get_profile  # noqa: E402
from engine.spaces.aggregation import PAPER_PRESETS, PAPER_PROBLEM, AggregationSpace  # noqa: E402

NETS = ("densenet-16-8", "sparsenet-16-16", "densenet-40-6", "sparsenet-40-12")


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def param_counts() -> tuple[float, list[dict]]:
    space, rows = AggregationSpace.paper(), []
    for name, (arch, paper) in PAPER_PRESETS.items():
        n = _params(space.build(arch, PAPER_PROBLEM))
        rows.append({"network": name, "params": n, "paper": paper, "rel_error": n / paper - 1})
    return max(abs(r["rel_error"]) for r in rows), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer images and epochs (a few minutes)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    t0 = time.perf_counter()

    err, rows = param_counts()
    print("1. parameter counts against the paper's table (CIFAR-100 head)")
    for r in rows:
        print(f"   {r['network']:<24} {r['params'] / 1e6:8.3f}M  paper {r['paper'] / 1e6:6.2f}M  "
              f"{r['rel_error']:+.2%}")
    print(f"   max relative error {err:.2%}")

    t = techniques.get("sparsenet")
    cfg = t.parse({"dataset": "fashion-mnist", "networks": list(NETS), "epochs": 2 if args.quick else 5,
                   "train_limit": 1500 if args.quick else 4000, "test_limit": 1000 if args.quick else 2000,
                   "batch_size": 64, "memory_batch_size": 32, "latency_repeats": 10 if args.quick else 30,
                   "threads": torch.get_num_threads()})
    rep = MemoryReporter()
    summary = t.run(cfg, get_profile("local-cpu"), rep)
    by = {m["network"]: m for _, m in rep.candidates}
    print(f"2. {summary.metrics['dataset']}, {cfg.epochs} epochs, {cfg.train_limit} training / "
          f"{cfg.test_limit} test images, one seed")
    print(f"   {'network':<18}{'acc':>7}{'params':>10}{'MMACs':>8}{'train mem MB':>13}{'saved MB':>10}"
          f"{'latency ms':>12}  source")
    for name in NETS:
        m = by[name]
        print(f"   {name:<18}{m['accuracy']:7.3f}{m['params'] / 1e3:9.0f}k{m['macs'] / 1e6:8.1f}"
              f"{m['training_memory_bytes_measured'] / 2**20:13.2f}{m['activation_bytes_measured'] / 2**20:10.2f}"
              f"{m['latency_ms']:12.3f}  {m['latency_source']}")
    d40, s40, d16, s16 = by["densenet-40-6"], by["sparsenet-40-12"], by["densenet-16-8"], by["sparsenet-16-16"]

    def grow(a: dict, b: dict, key: str) -> float:
        return b[key] / a[key]

    figures = {
        "param_count_max_rel_error": err,
        "acc_sparsenet": s40["accuracy"], "acc_densenet": d40["accuracy"],
        "params_sparsenet": s40["params"], "params_densenet": d40["params"],
        "params_ratio_sparse_vs_dense": s40["params"] / d40["params"],
        "train_memory_ratio_sparse_vs_dense": s40["training_memory_bytes_measured"]
        / d40["training_memory_bytes_measured"],
        "saved_activation_ratio_sparse_vs_dense": s40["activation_bytes_measured"] / d40["activation_bytes_measured"],
        "latency_ratio_sparse_vs_dense": s40["latency_ms"] / d40["latency_ms"],
        "latency_source": s40["latency_source"],
        "train_memory_growth_16_to_40_sparse": grow(s16, s40, "training_memory_bytes_measured"),
        "train_memory_growth_16_to_40_dense": grow(d16, d40, "training_memory_bytes_measured"),
        "latency_growth_16_to_40_sparse": grow(s16, s40, "latency_ms"),
        "latency_growth_16_to_40_dense": grow(d16, d40, "latency_ms"),
        "depth": 40, "epochs": cfg.epochs, "train_images": cfg.train_limit, "dataset": summary.metrics["dataset"],
        "quick": bool(args.quick), "wall_s": time.perf_counter() - t0,
    }
    print(f"   at depth 40 sparse / dense: parameters x{figures['params_ratio_sparse_vs_dense']:.2f}, training "
          f"memory x{figures['train_memory_ratio_sparse_vs_dense']:.2f}, latency "
          f"x{figures['latency_ratio_sparse_vs_dense']:.2f}; accuracy {figures['acc_sparsenet']:.3f} vs "
          f"{figures['acc_densenet']:.3f}")
    print(f"   depth 16 -> 40: training memory x{figures['train_memory_growth_16_to_40_sparse']:.2f} (sparse) vs "
          f"x{figures['train_memory_growth_16_to_40_dense']:.2f} (dense), latency "
          f"x{figures['latency_growth_16_to_40_sparse']:.2f} vs x{figures['latency_growth_16_to_40_dense']:.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
