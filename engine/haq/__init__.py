"""HAQ: hardware-aware mixed-precision quantisation with a reinforcement-learning
agent (Wang et al., CVPR 2019), priced on any profile, with real int8 on the CPU."""
from __future__ import annotations

from ..registry import Technique, register_technique
from .technique import HAQConfig, run_haq

__all__ = ["HAQConfig", "run_haq"]

register_technique(Technique(
    name="haq", title="HAQ: hardware-aware mixed precision",
    summary="A DDPG agent picks weight and activation bits (2 to 8) per layer under a latency or size budget "
            "priced on the profile (roofline with per-layer bits: a bit-flexible accelerator speeds up as bits "
            "shrink, an int8 CPU does not); uniform precisions beside it; with a second profile, each policy "
            "priced on both; real int8 (x86 kernels) measured against fp32.",
    config_cls=HAQConfig, run=run_haq, objectives={"latency_ms": "min", "accuracy": "max"},
    axes=("latency_ms", "accuracy"), group_by="search",
    paper="Wang et al., HAQ: Hardware-Aware Automated Quantization with Mixed Precision, CVPR 2019 "
          "(arXiv:1811.08886)",
    smoke={"dataset": "digits", "base_epochs": 1, "base_width": 0.25, "train_limit": 200, "val_images": 100,
           "bn_images": 64, "episodes": 3, "warmup": 2, "episode_batches": 1, "finetune_epochs": 0,
           "batch_size": 32, "resource": "size", "budget": 0.6, "measure_int8": False},
))
