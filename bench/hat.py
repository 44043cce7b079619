"""HAT: the latency predictor, evolution against random search, and the searched
SubTransformer against a uniformly scaled-down Transformer at equal latency.

Runs the ``hat`` technique on this machine (one process, the same seed for
every part) on the generated num2words English -> German corpus (generated
data, not natural text), and prints:

  1. the latency predictor on held-out SubTransformers measured here by HAT's
     protocol (batch 1, dummy sentences of fixed length, autoregressive
     decoder, trimmed mean of the timed runs; one thread's CPU time, which is
     steady on this shared machine): the 3 x 400 MLP's RMSE, MAPE and Kendall
     tau, and the linear fit's on the same rows;
  2. evolution (HAT's settings in the full run; a scaled-down population in
     --quick) against random search at equal evaluations, both under the same
     predicted latency limit: the best validation loss with inherited weights
     each found (``evolution_vs_random`` = random's best - evolution's best,
     > 0 when evolution found a lower loss);
  3. the searched SubTransformer (the best of the search's top few by
     inherited loss whose *measured* latency holds the limit) against two
     baselines extracted from the SuperTransformer and fine-tuned alike: the
     uniformly scaled Transformer (layers and dims) closest to its measured
     latency, and HAT's own baseline, the Transformer scaled by its dims alone
     with the decoder as deep as the encoder (``speedup_vs_transformer``,
     ``searched_dominates_transformer``: faster at no loss of BLEU); BLEU
     (sacrebleu, beam search) on test sentences, the fine-tuned validation
     loss, and latency measured here side by side, beside the predicted;
  4. across profiles: a SubTransformer searched for this CPU (measured) and one
     searched for the STM32F746 microcontroller profile (its latency: roofline
     estimates of the same workload from the datasheet figures, an estimate;
     its winner checked against its limit by that roofline), each priced on
     both and judged per profile (``hat_cross_seeds``): the own one holds when
     the other's breaks that profile's limit, or meets it and is less accurate
     by the inherited validation loss. ``cross_specialised`` when both hold.
     On this CPU latency is mostly the decoder's depth (per-operator
     overhead); on the microcontroller it is the widths and the encoder, so
     the two searches want different networks.

With ``--seeds N`` the whole run repeats for seeds 0..N-1 and each figure is
also given as mean and spread (min, max) over the seeds.

    OMP_NUM_THREADS=1 .venv/bin/python bench/hat.py --quick    # about 5 minutes a seed
    OMP_NUM_THREADS=1 .venv/bin/python bench/hat.py            # HAT's search settings (about half an hour)

Run at most one bench process per core: with five processes on two cores even
one thread's CPU time inflated by 20-60 % between the limit check and the
measurement beside the baselines (caches evicted at every switch), and the
winners measured over the limit they had held. To spread seeds, use
``--first-seed`` with one process per core.

The last line printed is one JSON object of the figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engine import MemoryReporter, techniques  # noqa: E402
from engine.hardware import get_profile  # noqa: E402
from engine.hat.latency import MLP_MARGIN  # noqa: E402

KEYS = ("predictor_rmse_ms", "predictor_mape", "predictor_kendall_tau", "linear_mape", "linear_rmse_ms",
        "predictor_train_mape", "linear_train_mape",
        "linear_kendall_tau", "evolution_best_val_loss", "random_best_val_loss", "evolution_vs_random",
        "bleu_searched", "bleu_baseline", "chrf_searched", "chrf_baseline", "latency_searched_ms",
        "latency_baseline_ms", "latency_searched_predicted_ms", "latency_baseline_predicted_ms", "latency_limit_ms",
        "evaluations", "search_s", "wall_s", "limit_holds_measured", "winners_over_limit_measured", "cross_here_arch_on_here_ms", "cross_here_arch_on_other_ms",
        "cross_there_arch_on_here_ms", "cross_there_arch_on_other_ms", "cross_here_arch_val_loss",
        "cross_there_arch_val_loss", "bleu_transformer", "latency_transformer_ms", "speedup_vs_transformer",
        "transformer_decoder_layers", "cross_here_limit_ms", "cross_other_limit_ms", "val_loss_searched",
        "val_loss_baseline", "val_loss_transformer", "chrf_transformer")
#: yes/no figures, given per seed and as the fraction of seeds where they hold
FLAGS = ("searched_dominates_transformer", "cross_specialised", "limit_holds_measured", "predictor_beats_linear")

QUICK = {"train_pairs": 4000, "valid_pairs": 150, "test_pairs": 500, "vocab_size": 300, "epochs": 20,
         "warmup_steps": 100, "latency_samples": 80, "latency_repeats": 10, "generations": 8, "population": 24,
         "parents": 6, "mutations": 9, "crossovers": 9, "valid_sentences": 100, "finetune_epochs": 4,
         "bleu_sentences": 500, "beam": 4, "predictor_epochs": 300,
         "other_profile": "stm32f746"}
FULL = {"train_pairs": 12000, "valid_pairs": 300, "test_pairs": 1000, "vocab_size": 400, "epochs": 20,
        "warmup_steps": 200, "latency_samples": 150, "latency_repeats": 20, "generations": 30, "population": 125,
        "parents": 25, "mutations": 50, "crossovers": 50, "valid_sentences": 200, "finetune_epochs": 4,
        "bleu_sentences": 1000, "beam": 4, "predictor_epochs": 300,
        "other_profile": "stm32f746"}


def anatomy(space_name: str, other: str, sentence_length: int = 20, vocab: int = 300) -> dict[str, dict[str, float]]:
    """What each gene costs: the largest SubTransformer, then the largest with
    one gene at its smallest choice, measured here (HAT's protocol, one
    thread's CPU time, the median of 3 interleaved rounds) and priced by the
    other profile's roofline (an estimate); per gene the fraction of the
    largest's latency that setting it smallest saves."""
    import torch

    from engine.hat.latency import roofline_record
    from engine.hat.technique import _measure_interleaved
    from engine.problems import SequenceToSequence
    from engine.spaces import HATSpace

    sp = HATSpace(space_name)
    problem = SequenceToSequence(vocab, vocab, sentence_length, sentence_length)
    big = sp.largest()
    archs = {"largest": big}
    for key, choices in sp.choices.items():
        if len(choices) > 1:
            lo = min(choices)
            archs[key] = {**big, key: [lo] * len(big[key]) if isinstance(big[key], list) else lo}
    torch.manual_seed(0)
    nets = {k: sp.build(a, problem) for k, a in archs.items()}
    cfg = techniques.get("hat").parse({"sentence_length": sentence_length, "latency_warmup": 3, "latency_repeats": 10})
    _measure_interleaved(list(nets.values())[:2], cfg, rounds=1)  # warm the allocator and caches
    # the reference (the largest) measured at the start, the middle and the end of each round, its median taken:
    # one burst of load on it would shift every gene's figure
    genes = [k for k in nets if k != "largest"]
    order = ["largest", *genes[:len(genes) // 2], "largest", *genes[len(genes) // 2:], "largest"]
    ms = [r.total_ms for r in _measure_interleaved([nets[k] for k in order], cfg)]
    here = {k: v for k, v in zip(order, ms) if k != "largest"}
    here["largest"] = float(np.median([v for k, v in zip(order, ms) if k == "largest"]))
    prof = get_profile(other)
    there = {k: roofline_record(n, prof, src_len=sentence_length, tgt_len=sentence_length).total_ms
             for k, n in nets.items()}
    return {name: {k: 1 - d[k] / d["largest"] for k in archs if k != "largest"} | {"largest_ms": d["largest"]}
            for name, d in (("here", here), (other, there))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller corpus, population and training (minutes)")
    ap.add_argument("--seeds", type=int, default=1, help="repeat for seeds 0..N-1 (1 to 5)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run first-seed .. first-seed + seeds - 1 "
                    "(to spread seeds over processes; 0 to 10000)")
    args = ap.parse_args()
    if not 1 <= args.seeds <= 5:
        ap.error("--seeds must be 1 to 5")
    if not 0 <= args.first_seed <= 10_000:
        ap.error("--first-seed must be 0 to 10000")
    t = techniques.get("hat")
    hw = get_profile("local-cpu")
    runs = []
    t0 = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        cfg = t.parse({**(QUICK if args.quick else FULL), "seed": seed})
        rep = MemoryReporter()
        s = t.run(cfg, hw, rep)
        m = {k: s.metrics[k] for k in KEYS}
        m.update({k: bool(s.metrics[k]) for k in FLAGS})
        m["hat_cross"] = s.metrics["hat_cross"]
        runs.append(m)
        print(f"seed {seed}: {s.message}")
        win = next(a for a, mm in rep.candidates if mm["search"] == "winner")
        base = next(a for a, mm in rep.candidates if mm["search"] == "uniform baseline")
        from engine.spaces import HATSpace
        sp = HATSpace(cfg.space)
        print(f"  searched: {sp.describe(win)}")
        print(f"  baseline: {sp.describe(base)}")
        tr = next((a for a, mm in rep.candidates if mm["search"] == "Transformer (dimension scaling)"), base)
        print(f"  Transformer (dimension scaling): {sp.describe(tr)}")
        for r in m["hat_cross"]:
            print(f"  cross, on {r['profile']} ({r['source']}, limit {r['limit_ms']:.3g} ms): own {r['own_ms']:.3g} ms "
                  f"(val loss {r['own_val_loss']:.3f}), {r['other']}'s {r['other_ms']:.3g} ms "
                  f"({r['other_val_loss']:.3f}): {'holds' if r['holds'] else 'does not hold'}, {r['why']}")
        print("  " + ", ".join(f"{k}={m[k]:.4g}" for k in KEYS) + ", " + ", ".join(f"{k}={m[k]}" for k in FLAGS))
    out = {k: float(np.mean([r[k] for r in runs])) for k in KEYS}
    out.update({f"{k}_seeds": [r[k] for r in runs] for k in FLAGS})
    out.update({f"{k}_fraction": float(np.mean([r[k] for r in runs])) for k in FLAGS})
    out["hat_cross_seeds"] = [r["hat_cross"] for r in runs]
    if len(runs) > 1:
        for k in ("bleu_searched", "bleu_baseline", "bleu_transformer", "speedup_vs_transformer", "val_loss_searched",
                  "val_loss_baseline", "val_loss_transformer", "chrf_searched", "chrf_baseline", "chrf_transformer",
                  "evolution_vs_random", "predictor_mape", "linear_mape"):
            vals = [r[k] for r in runs]
            out[f"{k}_min"], out[f"{k}_max"] = float(min(vals)), float(max(vals))
    cost = anatomy("tiny", (QUICK if args.quick else FULL)["other_profile"])
    for name, d in cost.items():
        print(f"latency anatomy on {name} (largest {d['largest_ms']:.3g} ms; saved by one gene at its smallest): "
              + ", ".join(f"{k} {v:.0%}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if k != "largest_ms"))
    out["latency_anatomy"] = cost
    out.update({"seeds": args.seeds, "quick": args.quick, "dataset": "num2words-en-de (generated)",
                "latency_clock": "thread", "bench_s": time.perf_counter() - t0,
                "bleu_gain": out["bleu_searched"] - out["bleu_baseline"],
                "bleu_gain_vs_transformer": out["bleu_searched"] - out["bleu_transformer"],
                # by the technique's margin (engine.hat.latency.MLP_MARGIN): a smaller gap is chance on these rows
                "mlp_beats_linear": bool(out["predictor_mape"] < MLP_MARGIN * out["linear_mape"])})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
