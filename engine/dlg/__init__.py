"""Deep Leakage from Gradients: gradient-inversion attacks, defences and sweeps.

Reusable pieces (no reporter needed)::

    from engine.dlg import build_victim, shared_gradients, run_attack, apply_defence
    model = build_victim("lenet", in_channels=3, num_classes=10, image_size=32,
                         generator=torch.Generator().manual_seed(0))
    grads = shared_gradients(model, x, y)
    result = run_attack("dlg", model, grads, shape=tuple(x.shape), num_classes=10,
                        generator=torch.Generator().manual_seed(1))

Registered techniques: ``dlg`` (one attack, with pictures and a video) and
``dlg-defences`` (reconstruction quality and accuracy cost per defence strength).
"""
from ..registry import Technique, register_technique
from . import sweep as _sweep
from . import technique as _technique
from .attacks import (DEFAULT_STEPS, METHODS, AttackResult, AttackSettings, cosine_distance, dlg, idlg,
                      infer_labels, inverting_gradients, l2_distance, run_attack, shared_gradients, total_variation)
from .defences import (DEFENCES, GRADIENT_DEFENCES, apply_defence, fp16_compress, gaussian_noise, int_quantize,
                       laplacian_noise, prune_gradients)
from .images import load_attack_images, load_user_image
from .metrics import (LEAK_PSNR_DB, LEAK_SSIM, image_metrics, is_leaked, leak_criterion, match_reconstructions, mse,
                      psnr, ssim)
from .sweep import SweepConfig, stopping_strength
from .technique import AttackConfig, traced_attack
from .victims import LeNet, SmallResNet, build_victim, make_victim, train_victim

__all__ = ["DEFAULT_STEPS", "METHODS", "AttackResult", "AttackSettings", "cosine_distance", "dlg", "idlg",
           "infer_labels", "inverting_gradients", "l2_distance", "run_attack", "shared_gradients",
           "total_variation", "DEFENCES", "GRADIENT_DEFENCES", "apply_defence", "fp16_compress", "gaussian_noise",
           "int_quantize", "laplacian_noise", "prune_gradients", "load_attack_images", "load_user_image",
           "image_metrics", "is_leaked", "leak_criterion", "LEAK_PSNR_DB", "LEAK_SSIM", "match_reconstructions",
           "mse", "psnr", "ssim", "SweepConfig", "stopping_strength",
           "AttackConfig", "traced_attack", "LeNet", "SmallResNet", "build_victim", "make_victim", "train_victim"]

_PAPER = ("Zhu, Liu & Han, Deep Leakage from Gradients, NeurIPS 2019 (arXiv:1906.08935); "
          "Zhao, Mopuri & Bilen, iDLG, 2020 (arXiv:2001.02610); "
          "Geiping et al., Inverting Gradients, NeurIPS 2020 (arXiv:2003.14053)")

register_technique(Technique(
    name="dlg",
    title="Deep Leakage from Gradients",
    summary="Rebuild a client's private images from the gradient it shares (DLG, iDLG, Inverting Gradients); "
            "see the reconstruction evolve and how close it gets. Batches: reconstructions are matched to their "
            "originals, labels read per image off the last layer's gradient, restarts keep the best gradient "
            "match, and a stalled L-BFGS is flagged and handed to Adam. Leaked: "
            + leak_criterion() + " (defaults; settable).",
    config_cls=AttackConfig,
    run=_technique.run,
    objectives={"psnr": "max", "ssim": "max"},
    axes=("iterations", "psnr"),
    paper=_PAPER,
    smoke={"steps": 3, "lbfgs_inner": 2, "snapshots": 2},
))

register_technique(Technique(
    name="dlg-defences",
    title="Gradient-leakage defences",
    summary="Attack behind gradient pruning, Gaussian/Laplacian noise, fp16/int8 compression and larger "
            "batches at increasing strength: reconstruction quality against the accuracy each defence costs; noise "
            "variances also relative to the gradient's mean square. Leaked: " + leak_criterion() + ".",
    config_cls=SweepConfig,
    run=_sweep.run,
    objectives={"accuracy": "max", "psnr": "min"},
    axes=("psnr", "accuracy"),
    paper=_PAPER,
    smoke={"steps": 2, "lbfgs_inner": 2, "defences": ["prune", "quantize"], "prune_levels": [0.5],
           "quantize_bits": [8], "accuracy": False},
))
