"""TinyTL (Cai et al., NeurIPS 2020): memory-efficient on-device transfer learning.

Pieces usable without a reporter:
- ``mobilenet``: a MobileNetV2-style network described by data (``MobileNetArch``)
- ``pretrain``: the source-task feature extractor, cached as safetensors
- ``methods``: FT-Full, FT-Last, FT-Norm+Last, TinyTL-B, TinyTL-L+B, and the
  converter to memory-efficient frozen layers (``prepare``)
- ``functions`` / ``layers``: the memory-efficient autograd functions
- ``lite_residual``: the lite residual module
- ``memory``: training memory measured (saved-tensor hooks) and counted (the paper's model)
- ``adaptation``: feature extractor adaptation: a super-net pre-trained on the source task and
  the backprop-free pick of the sub-net for the target data and the device (TinyTL-L+B+FA)
"""
from engine.registry import Technique, register_technique

from .adaptation import (FA_METHOD, Selection, SubnetTrial, SupernetTask, adapt_subnet, fa_space, frozen_features,
                         pretrained_supernet, ridge_cv_accuracy, select_subnet, tinytl_lb_memory)
from .lite_residual import LiteResidual, LiteResidualBlock, LiteSpec, attach_lite_residuals
from .memory import AnalyticMemory, MemoryBreakdown, analytic_memory, fits_profile, measure_training_memory
from .methods import METHODS, apply_method, make_efficient, make_stock, prepare
from .mobilenet import MobileNetArch, build_mobilenet
from .technique import ALL_METHODS, Config, run

__all__ = ["Config", "run", "METHODS", "prepare", "apply_method", "make_efficient", "make_stock", "LiteSpec",
           "LiteResidual", "LiteResidualBlock", "attach_lite_residuals", "MemoryBreakdown", "AnalyticMemory",
           "measure_training_memory", "analytic_memory", "fits_profile", "MobileNetArch", "build_mobilenet",
           "ALL_METHODS", "FA_METHOD", "SupernetTask", "fa_space", "pretrained_supernet", "adapt_subnet",
           "frozen_features", "ridge_cv_accuracy", "tinytl_lb_memory", "SubnetTrial", "Selection", "select_subnet"]

register_technique(Technique(
    name="tinytl",
    title="TinyTL: memory-efficient transfer learning",
    summary="Adapts a pre-trained MobileNetV2-style network to a new task with frozen weights, learned biases and "
            "lite residual modules, against full, last-layer and norm fine-tuning, and on a sub-net of a super-net "
            "picked for the target data without back-propagation; training memory is measured "
            "(bytes autograd saves, parameters, gradients, optimiser state, and the allocator-level peak of a whole "
            "training step) and counted the paper's way, the measured peak quoted beside the paper's count, and "
            "each method is checked against the device's memory.",
    config_cls=Config,
    run=run,
    objectives={"training_memory_bytes_measured": "min", "accuracy": "max"},
    axes=("training_memory_bytes_measured", "accuracy"),
    breakdown={"Training memory, measured (bytes)": ("activation_bytes_measured", "param_bytes_measured",
                                                     "grad_bytes_measured", "optimizer_bytes_measured"),
               "Training memory, the paper's count (bytes)": ("activation_bytes_analytic", "param_bytes_analytic")},
    paper="Cai, Gan, Zhu, Han. TinyTL: Reduce Memory, Not Parameters for Efficient On-Device Learning. "
          "NeurIPS 2020. arXiv:2007.11622",
    smoke={"source_dataset": "digits", "target_dataset": "digits", "resolution": 16, "width_mult": 0.25,
           "source_epochs": 1, "epochs": 1, "train_limit": 48, "memory_batch_sizes": [8], "batch_size": 8,
           "methods": ["ft-full", "ft-last", "tinytl-lb", "tinytl-lb-fa"], "fa_supernet_epochs": 1, "fa_subnets": 4},
))
