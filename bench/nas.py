"""NAS bench: evolution vs random search, predictor throughput, evolution wall
time, super-net rank fidelity, ProxylessNAS memory.

    .venv/bin/python bench/nas.py [--quick]

Last line: one JSON object with hypervolume_ratio, evals_per_s,
evolution_wall_s, supernet_spearman and proxyless_memory_ratio.
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
import torch.nn.functional as F  # noqa: E402
from scipy import stats  # noqa: E402

from engine.hardware import LookupTableLatency, build_lut, get_profile  # noqa: E402
from engine.nas.memory import peak_allocated_bytes  # noqa: E402
from engine.nas.proxyless import ArchStep, ProxylessSuperNet  # noqa: E402
from engine.nas.searching import front_search, reference_point  # noqa: E402
from engine.nas.supernet_technique import space_from_config  # noqa: E402
from engine.search import OFA_SETTINGS, AccuracyPredictor, EvolutionSearch, EvolutionSettings  # noqa: E402
from engine.supernet import (MBConvSuperNet, evaluate_subnet, largest_arch, load_nas_data, smallest_arch,  # noqa: E402
                             subnet_accuracy, train_supernet)
from engine.train import classification_step, fit, make_optimizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    q = args.quick
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t_all = time.perf_counter()
    widths, res = ((8, 16, 24), (16, 20, 24)) if q else ((16, 24, 32, 48), (24, 28, 32))
    space = space_from_config(widths, res, 32 if q else 128)
    data = load_nas_data("mnist-5k", resolution=max(res), in_channels=1, train_limit=800 if q else 2000)
    out: dict[str, float] = {}

    # -- super-net, and rank fidelity against standalone training ----------------
    t = time.perf_counter()
    net = MBConvSuperNet(space, 10, 1)
    train_supernet(net, data, epochs=2 if q else 3, rng=np.random.default_rng(0), sampling="sandwich", n_random=1,
                   optimizer="adam", lr=3e-3)
    print(f"super-net trained in {time.perf_counter() - t:.1f} s")
    rng = np.random.default_rng(3)
    archs = [largest_arch(space), smallest_arch(space)] + [space.sample(rng) for _ in range(3 if q else 6)]
    inherited, standalone = [], []
    for i, a in enumerate(archs):
        inherited.append(evaluate_subnet(net, a, data, split="test", bn_images=256))
        torch.manual_seed(i)
        model = space.build(a, 10, 1)
        r = a["resolution"]
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data.images("train", r), data.y["train"]),
                                             batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(i))
        fit(model, classification_step, loader, epochs=2 if q else 3,
            optimizer=make_optimizer(model.parameters(), name="adam", lr=3e-3))
        standalone.append(subnet_accuracy(model, data, split="test", resolution=r))
        print(f"  sub-net {i + 1}: inherited {inherited[-1]:.3f}  standalone {standalone[-1]:.3f}")
    out["supernet_spearman"] = float(stats.spearmanr(inherited, standalone).statistic)
    out["supernet_subnets"] = len(archs)

    # -- predictors: accuracy MLP on super-net sub-nets, latency lookup table ---
    t = time.perf_counter()
    samples = [space.sample(rng) for _ in range(40 if q else 150)]
    acc = np.array([evaluate_subnet(net, a, data, split="val", bn_images=128, limit=300) for a in samples])
    pred = AccuracyPredictor(space.encoding_size).fit_data(space.encode_many(samples), acc, epochs=100, seed=0)
    table = build_lut(space, threads=1, warmup=1, repeats=5, num_classes=10, in_channels=1, profile="local-cpu")
    est = LookupTableLatency(table, space, get_profile("local-cpu"))
    accuracy = lambda a: pred.predict(space.encode_many(a))  # noqa: E731
    latency = est.estimate_ms_many
    print(f"predictors ready in {time.perf_counter() - t:.1f} s ({len(table.entries)} LUT entries)")
    batch = [space.sample(rng) for _ in range(10000)]
    t = time.perf_counter()
    accuracy(batch)
    latency(batch)
    out["evals_per_s"] = len(batch) / (time.perf_counter() - t)

    # -- a default evolution (once-for-all settings) under a latency limit -------
    limit = float(np.median(latency(batch[:500])))
    gens = 100
    settings = EvolutionSettings(OFA_SETTINGS.population_size, OFA_SETTINGS.parent_ratio,
                                 OFA_SETTINGS.mutation_ratio, OFA_SETTINGS.mutate_prob, gens)
    t = time.perf_counter()
    evo = EvolutionSearch(sample=space.sample, mutate=space.mutate, crossover=space.crossover,
                          rng=np.random.default_rng(0), feasible=lambda a: latency(a) <= limit, settings=settings)
    for _ in range(gens):
        a = evo.ask()
        evo.tell(a, accuracy(a))
    out["evolution_wall_s"] = time.perf_counter() - t
    out["evolution_generations"] = gens
    out["evolution_evaluations"] = evo.evaluations

    # -- NSGA-II front vs random search at equal evaluations ----------------------
    ref = reference_point(space, accuracy, latency, np.random.default_rng(7))
    er, rr = front_search(space, accuracy, latency, population=100, generations=20 if q else 40, mutate_prob=0.1,
                          rng=np.random.default_rng(1), random_rng=np.random.default_rng(2), ref=ref)
    out["hypervolume_ratio"] = er.hypervolume[-1] / rr.hypervolume[-1]
    out["search_evaluations_each"] = len(er.archs)

    # -- ProxylessNAS: architecture step vs training one sampled path -------------
    pnet = ProxylessSuperNet(space, max(res), 10, 1).train()
    popt = torch.optim.Adam(pnet.arch_parameters(), lr=6e-3, betas=(0.0, 0.999))
    tbl = [[1.0] * m.n for m in pnet.mixed]
    step = ArchStep(pnet, popt, tbl, 0.0, 1.0, np.random.default_rng(0))
    x, y = data.images("train")[:64], data.y["train"][:64]
    step(x, y)  # warm up allocator paths
    step.rng = np.random.default_rng(5)
    arch_peak = peak_allocated_bytes(lambda: step(x, y))
    path = [m.sampled[0] for m in pnet.mixed]
    _, static = pnet.extract(path)
    static.train()
    one_peak = peak_allocated_bytes(lambda: F.cross_entropy(static(x), y).backward())
    pnet.binarize(np.random.default_rng(5), two=False)
    pnet.set_mode("weight")
    weight_peak = peak_allocated_bytes(lambda: F.cross_entropy(pnet(x), y).backward())
    out["proxyless_memory_ratio"] = arch_peak / one_peak
    out["proxyless_weight_step_memory_ratio"] = weight_peak / one_peak
    out["wall_s"] = time.perf_counter() - t_all
    for k, v in out.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
