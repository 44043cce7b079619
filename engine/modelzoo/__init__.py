"""``model-zoo``: benchmark torchvision classifiers at chosen widths and
resolutions — params, MACs, activation memory, latency on the chosen profile
(measured when it is this machine, else the profile's estimate, its source
labelled), and accuracy after a short training when asked.

Without training there is no accuracy; the front then falls back to latency
against parameter count (both minimised): the networks that no other beats in
both time and size.
"""
from ..registry import Technique, register_technique
from .benchmark import Candidate, cost_metrics, latency_metrics, layer_table, plan, run, train_classifier
from .config import Config
from .zoo import MODELS, build_model, supports_width, width_support

__all__ = ["Config", "run", "Candidate", "plan", "cost_metrics", "latency_metrics", "layer_table",
           "train_classifier", "MODELS", "build_model", "supports_width", "width_support", "TECHNIQUE"]

TECHNIQUE = register_technique(Technique(
    name="model-zoo",
    title="Model zoo benchmark",
    summary="Params, MACs, activation memory and latency (measured here, or estimated for the profile) of "
            "torchvision classifiers "
            "(MobileNet, ShuffleNet, MnasNet, EfficientNet, ResNet, SqueezeNet) across widths and "
            "resolutions, with accuracy after a short training from scratch.",
    config_cls=Config,
    run=run,  # type: ignore[arg-type]
    objectives={"latency_ms": "min", "accuracy": "max"},
    axes=("latency_ms", "accuracy"),
    fallback_objectives={"latency_ms": "min", "params": "min"},
    fallback_axes=("latency_ms", "params"),
    paper="Design Automation for Efficient Deep Learning Computing (arXiv:1904.10616)",
    smoke={"models": ["squeezenet1_1"], "widths": [1.0], "resolutions": [32], "train_epochs": 0,
           "latency_repeats": 2, "latency_warmup": 1},
))
