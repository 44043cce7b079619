"""Deep Leakage from Gradients on the paper's LeNet with 32x32 photographs.

Measures, in one run:
  - DLG iterations (L-BFGS steps of 20 inner iterations) to MSE < 1e-3 and the
    wall time, for batch 1 (target: <= 300 steps, < 60 s) and batch 4;
    the reference setting (full L-BFGS steps, no line search) as the baseline;
    batch 4 with the labels restored analytically (label counts from the last
    layer's bias gradient) and U(0, 1) dummy images, 1,200 steps, plain DLG as
    its baseline, and batch 4 where the problem is smaller (16x16 photos,
    32x32 one-channel digits);
  - iDLG's label accuracy (the sign rule) over many random trials, against the
    label accuracy DLG's learned soft labels reached in the attacks above;
  - batches that leak (keys batch4_leaked_fraction, batch8_leaked_fraction,
    batch8_mean_psnr): 4 and 8 MNIST digits (32x32, one channel) behind one
    gradient, and 4 and 8 photos at 16x16; labels per image from the last
    layer's gradient, L-BFGS flagged when it stalls and continued by Adam; the
    same batch of 8 without the fallback as the baseline; every image scored
    after Hungarian matching, leaked when PSNR >= 25 dB and SSIM >= 0.8;
  - the weakest gradient pruning ratio and Gaussian noise variance at which the
    attack stops recovering the image (the paper: pruning >= 20 %, variance >= 1e-2),
    with the noise variance also given relative to the gradient's mean square.

    .venv/bin/python bench/dlg.py            # full (several minutes)
    .venv/bin/python bench/dlg.py --quick    # within about a minute

The last line printed is one JSON object of the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.dlg import (AttackSettings, apply_defence, build_victim, image_metrics, infer_labels,  # noqa: E402
                        is_leaked, leak_criterion, load_attack_images, match_reconstructions, mse, run_attack,
                        shared_gradients)

SIZE = 32
CLASSES = 10


def attack(images, *, seed: int, steps: int, line_search: str | None = "strong_wolfe", defence: str = "none",
           strength: float = 0.0, stop_mse: float = 1e-3, method: str = "dlg", init: str = "uniform",
           fallback: str = "adam") -> dict:
    """One attack on a fresh seeded LeNet; stops once every image is below ``stop_mse``."""
    size = int(images.x.shape[-1])
    model = build_victim("lenet", in_channels=images.channels, num_classes=CLASSES, image_size=size,
                         generator=torch.Generator().manual_seed(seed))
    target = shared_gradients(model, images.x, images.y)
    target = apply_defence(defence, target, strength, generator=torch.Generator().manual_seed(seed + 2))
    first = [None]

    def cb(it, loss, cur):
        err = mse(cur[match_reconstructions(cur, images.x)], images.x)
        if first[0] is None and float(err.max()) < stop_mse:
            first[0] = it
            return True
        return False

    t0 = time.perf_counter()
    res = run_attack(method, model, target, shape=tuple(images.x.shape), num_classes=CLASSES,
                     generator=torch.Generator().manual_seed(seed + 1),
                     settings=AttackSettings(steps=steps, line_search=line_search, init=init, fallback=fallback),
                     callback=cb)
    wall = time.perf_counter() - t0
    perm = match_reconstructions(res.images, images.x)
    err = mse(res.images[perm], images.x)
    labels_ok = [int(res.labels[perm[i]]) == int(images.y[i]) for i in range(len(perm))]
    per = image_metrics(res.images[perm], images.x)
    return {"psnr": [m["psnr"] for m in per], "ssim": [m["ssim"] for m in per],
            "leaked": [is_leaked(m) for m in per], "stalled": res.stalled, "fallback_steps": res.fallback_steps,
            "iterations_to_1e-3": first[0], "iterations": res.iterations, "evaluations": res.evaluations,
            "mse": float(err.mean()), "mse_max": float(err.max()), "wall_s": wall, "labels_ok": labels_ok,
            "diverged": res.diverged, "final_loss": res.losses[-1] if res.losses else None}


def idlg_label_accuracy(trials: int) -> float:
    """The sign rule on random LeNets, photos and labels (one image per trial)."""
    g = torch.Generator().manual_seed(1234)
    photos = load_attack_images(source="photos", batch_size=14, size=SIZE, num_classes=CLASSES).x
    hits = 0
    for t in range(trials):
        model = build_victim("lenet", in_channels=3, num_classes=CLASSES, image_size=SIZE,
                             generator=torch.Generator().manual_seed(10_000 + t))
        x = photos[t % len(photos)][None]
        y = torch.randint(0, CLASSES, (1,), generator=g)
        hits += int(infer_labels(model, shared_gradients(model, x, y), 1)[0] == y[0])
    return hits / trials


def weakest_stop(images, defence: str, levels: list[float], *, steps: int, seed: int, leak_mse: float,
                 log) -> tuple[float | None, list[dict]]:
    """Weakest level (scanning upward, assuming stronger also stops) whose attack ends above ``leak_mse``."""
    rows = []
    for s in levels:
        r = attack(images, seed=seed, steps=steps, defence=defence, strength=s)
        # leaked by the shared criterion (PSNR and SSIM, engine.dlg.metrics); --leak-mse only for the old rule
        r.update(defence=defence, strength=s, leaked=any(r["leaked"]) if leak_mse is None else r["mse"] < leak_mse)
        rows.append(r)
        log(f"  {defence} {s:g}: final MSE {r['mse']:.2e}, PSNR {r['psnr'][0]:.1f} dB, SSIM {r['ssim'][0]:.2f} after {r['iterations']} steps "
            f"({'leaks' if r['leaked'] else 'stops the leak'}, {r['wall_s']:.1f} s)")
        if not r["leaked"]:
            return s, rows
    return None, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one image, fewer levels and steps (about a minute)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for LeNet)")
    ap.add_argument("--leak-mse", type=float, default=None,
                    help="the old rule for the defences (final MSE below this is a leak); default: the shared "
                         "criterion, PSNR >= 25 dB and SSIM >= 0.8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    quick = args.quick
    t_start = time.perf_counter()
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    log(f"DLG bench ({'quick' if quick else 'full'}): LeNet (sigmoid, U(-0.5,0.5)), {SIZE}x{SIZE} photos, "
        f"{CLASSES} classes, torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")

    # -- batch 1 -----------------------------------------------------------
    # quick: one photo (coffee, seed 1); full: the first five photos, seeds 0..4, medians reported
    first = [1] if quick else list(range(5))
    n_images = len(first)
    b1 = []
    for i in first:
        imgs = load_attack_images(source="photos", batch_size=1, index=i, size=SIZE, num_classes=CLASSES)
        r = attack(imgs, seed=i, steps=300)
        b1.append(r)
        log(f"batch 1, {imgs.names[0]}: MSE < 1e-3 after {r['iterations_to_1e-3']} steps "
            f"({r['evaluations']} evaluations), {r['wall_s']:.1f} s, final MSE {r['mse']:.2e}")
    ref = []
    if not quick:
        for i in range(n_images):
            imgs = load_attack_images(source="photos", batch_size=1, index=i, size=SIZE, num_classes=CLASSES)
            r = attack(imgs, seed=i, steps=300, line_search=None)
            ref.append(r)
            log(f"batch 1 reference (no line search), {imgs.names[0]}: MSE < 1e-3 after "
                f"{r['iterations_to_1e-3']} steps, {r['wall_s']:.1f} s, final MSE {r['mse']:.2e}")

    # -- batch 4 -----------------------------------------------------------
    # Four 32x32 RGB photos behind one gradient. Labels restored analytically from the
    # last layer's bias gradient (label counts, Geng et al. 2021), then L-BFGS on the images.
    # Plain DLG (soft labels learned too, N(0,1) start) as the baseline.
    imgs4 = load_attack_images(source="photos", batch_size=4, index=0, size=SIZE, num_classes=CLASSES)
    steps4 = 30 if quick else 1200
    b4 = attack(imgs4, seed=0, steps=steps4, method="idlg")
    log(f"batch 4 ({', '.join(imgs4.names)}), analytic labels + U(0,1) start: every image < 1e-3 after "
        f"{b4['iterations_to_1e-3']} steps; {b4['wall_s']:.1f} s, mean MSE {b4['mse']:.2e} (worst "
        f"{b4['mse_max']:.2e}), gradient distance {b4['final_loss']:.2e} after {b4['iterations']} steps; "
        f"labels {sum(b4['labels_ok'])}/4; leaked {sum(b4['leaked'])}/4 (PSNR "
        f"{' '.join(f'{p:.1f}' for p in b4['psnr'])} dB)")
    b4_dlg = attack(imgs4, seed=0, steps=30 if quick else 300, init="normal")
    log(f"batch 4 baseline, DLG (soft labels, N(0,1) start): mean MSE {b4_dlg['mse']:.2e} after "
        f"{b4_dlg['iterations']} steps, {b4_dlg['wall_s']:.1f} s")
    # -- batches that leak ----------------------------------------------------
    # Where the unknowns are fewer than what the gradient pins down: batches of 4 and 8 of 32x32
    # one-channel MNIST digits (the headline keys) and of 16x16 photos. Labels per image from the last
    # layer's gradient, L-BFGS with the stall check and the Adam fallback; leaked by the criterion below.
    # Baseline in the same run: the same attack without the fallback (it stops where L-BFGS stalls).
    steps_b = 40 if quick else 300
    sets = [("mnist-5k", 32), ("photos", 16)] if not quick else [("mnist-5k", 32)]
    batches: dict = {}
    for src, size in sets:
        for bs in (4, 8):
            im = load_attack_images(source=src, batch_size=bs, index=0, size=size, num_classes=CLASSES)
            r = attack(im, seed=0, steps=steps_b, method="idlg")
            r.update(source=src, size=size, channels=im.channels, batch=bs)
            batches[(src, size, bs)] = r
            log(f"batch {bs}, {src} {size}x{size}x{im.channels}: leaked {sum(r['leaked'])}/{bs}, mean PSNR "
                f"{statistics.mean(r['psnr']):.1f} dB (per image {' '.join(f'{p:.1f}' for p in r['psnr'])}), SSIM "
                f"{' '.join(f'{q:.2f}' for q in r['ssim'])}; {r['iterations']} L-BFGS iterations"
                f"{' (stalled)' if r['stalled'] else ''}, Adam fallback {r['fallback_steps']} steps, "
                f"{r['evaluations']} evaluations, {r['wall_s']:.1f} s; labels {sum(r['labels_ok'])}/{bs}")
    b8_base = None
    if not quick:
        im = load_attack_images(source="mnist-5k", batch_size=8, index=0, size=32, num_classes=CLASSES)
        b8_base = attack(im, seed=0, steps=steps_b, method="idlg", fallback="none")
        log(f"batch 8 baseline, mnist-5k 32x32, no Adam fallback: leaked {sum(b8_base['leaked'])}/8, mean PSNR "
            f"{statistics.mean(b8_base['psnr']):.1f} dB after {b8_base['iterations']} L-BFGS iterations"
            f"{' (stalled)' if b8_base['stalled'] else ''}, {b8_base['wall_s']:.1f} s")
    log(f"leak criterion: {leak_criterion()}")
    b4_small = [batches[k] for k in batches if k[2] == 4]
    b4m, b8m = batches[("mnist-5k", 32, 4)], batches[("mnist-5k", 32, 8)]

    # -- labels ------------------------------------------------------------
    trials = 100 if quick else 1000
    idlg_acc = idlg_label_accuracy(trials)
    dlg_labels = [ok for r in b1 + ref + [b4_dlg] for ok in r["labels_ok"]]
    dlg_acc = sum(dlg_labels) / len(dlg_labels)
    log(f"label accuracy: iDLG {idlg_acc:.3f} over {trials} trials; DLG soft labels {dlg_acc:.3f} "
        f"over {len(dlg_labels)} attacked images")

    # -- defences ----------------------------------------------------------
    img1 = load_attack_images(source="photos", batch_size=1, index=1, size=SIZE, num_classes=CLASSES)
    steps_d = 60 if quick else 300
    rule = f"final MSE < {args.leak_mse:g}" if args.leak_mse is not None else leak_criterion()
    log(f"defences on {img1.names[0]} ({steps_d} steps each, leak: {rule}):")
    prune_levels = [0.1, 0.3] if quick else [0.01, 0.1, 0.2, 0.3, 0.5, 0.7]
    noise_levels = [1e-5, 1e-4] if quick else [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    prune_stop, prune_rows = weakest_stop(img1, "prune", prune_levels, steps=steps_d, seed=1,
                                          leak_mse=args.leak_mse, log=log)
    noise_stop, noise_rows = weakest_stop(img1, "gaussian", noise_levels, steps=steps_d, seed=1,
                                          leak_mse=args.leak_mse, log=log)
    lap_stop = None
    if not quick:
        lap_stop, _ = weakest_stop(img1, "laplacian", noise_levels, steps=steps_d, seed=1, leak_mse=args.leak_mse,
                                   log=log)

    # the noise's size relative to the gradient it is added to: the paper's "variance 1e-2" is an
    # absolute number, tied to the scale of its victims' gradients
    m1 = build_victim("lenet", in_channels=3, num_classes=CLASSES, image_size=SIZE,
                      generator=torch.Generator().manual_seed(1))
    g1 = torch.cat([g.flatten() for g in shared_gradients(m1, img1.x, img1.y)])
    grad_ms = float((g1 ** 2).mean())
    log(f"shared gradient: mean squared entry {grad_ms:.2e} (RMS {grad_ms ** 0.5:.2e}); the stopping noise variance "
        f"is {noise_stop / grad_ms if noise_stop else float('nan'):.2g}x that")

    its = [r["iterations_to_1e-3"] for r in b1]
    done = [i for i in its if i is not None]
    out = {
        "mode": "quick" if quick else "full",
        "torch_threads": torch.get_num_threads(),
        "batch1_images": n_images,
        "batch1_iterations": statistics.median(done) if done else None,
        "batch1_recovered": f"{len(done)}/{len(its)}",
        "batch1_wall_s": round(statistics.median(r["wall_s"] for r in b1), 2),
        "batch1_mse": statistics.median(r["mse"] for r in b1),
        "batch1_iterations_reference": (statistics.median([r["iterations_to_1e-3"] for r in ref
                                                           if r["iterations_to_1e-3"] is not None] or [None])
                                        if ref else None),
        "batch1_recovered_reference": f"{sum(r['iterations_to_1e-3'] is not None for r in ref)}/{len(ref)}"
                                      if ref else None,
        "batch4_iterations": b4["iterations_to_1e-3"],
        "batch4_steps_run": b4["iterations"],
        "batch4_wall_s": round(b4["wall_s"], 2),
        "batch4_mse": b4["mse"],
        "batch4_mse_max": b4["mse_max"],
        "batch4_method": "analytic label counts + L-BFGS (U(0,1) start)",
        "batch4_label_accuracy": sum(b4["labels_ok"]) / 4,
        "batch4_gradient_distance": b4["final_loss"],
        "batch4_dlg_mse": b4_dlg["mse"],
        "batch4_dlg_steps": b4_dlg["iterations"],
        "batch4_small": {f"{r['source']}-{r['size']}px-{r['channels']}ch": {
            "iterations": r["iterations_to_1e-3"], "wall_s": round(r["wall_s"], 2), "mse": r["mse"],
            "labels_ok": sum(r["labels_ok"])} for r in b4_small},
        "batch4_leaked_fraction": sum(b4m["leaked"]) / 4,
        "batch8_leaked_fraction": sum(b8m["leaked"]) / 8,
        "batch8_mean_psnr": statistics.mean(b8m["psnr"]),
        "batch_leak_data": "mnist-5k 32x32x1 digits, LeNet, idlg labels + L-BFGS with Adam fallback",
        "batch8_leaked_fraction_no_fallback": sum(b8_base["leaked"]) / 8 if b8_base else None,
        "batch8_mean_psnr_no_fallback": statistics.mean(b8_base["psnr"]) if b8_base else None,
        "batch_leaks": {f"{k[0]}-{k[1]}px-b{k[2]}": {
            "leaked_fraction": sum(r["leaked"]) / k[2], "mean_psnr": statistics.mean(r["psnr"]),
            "psnr": [round(p, 2) for p in r["psnr"]], "ssim": [round(q, 3) for q in r["ssim"]],
            "iterations": r["iterations"], "stalled": r["stalled"], "fallback_steps": r["fallback_steps"],
            "evaluations": r["evaluations"], "wall_s": round(r["wall_s"], 2)} for k, r in batches.items()},
        "batch4_32px_rgb_leaked_fraction": sum(b4["leaked"]) / 4,
        "batch4_32px_rgb_mean_psnr": statistics.mean(b4["psnr"]),
        "leak_criterion": leak_criterion(),
        "idlg_label_accuracy": idlg_acc,
        "idlg_label_trials": trials,
        "dlg_label_accuracy": dlg_acc,
        "leak_mse": args.leak_mse,
        "defence_steps": steps_d,
        "prune_ratio_that_stops": prune_stop,
        "noise_variance_that_stops": noise_stop,
        "gradient_mean_square": grad_ms,
        "noise_variance_that_stops_relative": noise_stop / grad_ms if noise_stop else None,
        "laplacian_variance_that_stops": lap_stop,
        "prune_final_mse": {str(r["strength"]): r["mse"] for r in prune_rows},
        "noise_final_mse": {str(r["strength"]): r["mse"] for r in noise_rows},
        "total_wall_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
