"""AMC: automated channel pruning with a reinforcement-learning agent
(He et al., ECCV 2018), with real channel removal (Torch-Pruning's
dependency graph) and the speed-up measured."""
from __future__ import annotations

from ..registry import Technique, register_technique
from .technique import AMCConfig, run_amc

__all__ = ["AMCConfig", "run_amc"]

register_technique(Technique(
    name="amc", title="AMC: automated channel pruning",
    summary="A DDPG agent picks the fraction of channels each layer keeps under a FLOPs, parameter or latency "
            "budget; channels are removed for real through a dependency graph (residual adds, depthwise groups). "
            "Random search, uniform and global-magnitude pruning run beside it at the same budget; the best "
            "policies are fine-tuned alike, measured on the device and kept as networks.",
    config_cls=AMCConfig, run=run_amc, objectives={"flops_ratio": "min", "accuracy": "max"},
    axes=("flops_ratio", "accuracy"), group_by="search", resumes=True,
    paper="He et al., AMC: AutoML for Model Compression and Acceleration on Mobile Devices, ECCV 2018 "
          "(arXiv:1802.03494)",
    smoke={"dataset": "digits", "base_epochs": 1, "train_limit": 200, "val_images": 100, "bn_images": 64,
           "episodes": 3, "warmup": 2, "finetune_epochs": 1, "base_width": 0.25, "batch_size": 32},
))
