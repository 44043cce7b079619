"""Neural architecture search techniques: ``supernet`` (train a weight-shared
super-net), ``evolution`` (predictor-guided evolutionary / NSGA-II search under
a latency constraint) and ``proxylessnas`` (differentiable search)."""
from ..registry import Technique, register_technique
from .evolution_technique import EvolutionConfig, run_evolution
from .proxyless_technique import ProxylessConfig, run_proxyless
from .supernet_technique import SupernetConfig, run_supernet

__all__ = ["SupernetConfig", "EvolutionConfig", "ProxylessConfig", "run_supernet", "run_evolution",
           "run_proxyless"]

_OBJ = {"latency_ms": "min", "accuracy": "max"}

register_technique(Technique(
    name="supernet", title="Once-for-all super-net",
    summary="Train one weight-shared MBConv super-net (elastic kernel, expand ratio, depth and resolution) "
            "and save it as a checkpoint that searches pick from.",
    config_cls=SupernetConfig, run=run_supernet, objectives=_OBJ, axes=("latency_ms", "accuracy"),
    paper="Cai et al., Once-for-All: Train One Network and Specialize it for Efficient Deployment, ICLR 2020",
    smoke={"widths": [8, 16], "resolutions": [16], "head_width": 16, "epochs": 1, "train_limit": 64,
           "batch_size": 32, "eval_subnets": 0, "name": "smoke-supernet"},
))
register_technique(Technique(
    name="evolution", title="Evolutionary search on a super-net",
    summary="Accuracy predictor from super-net sub-nets, then evolutionary search under a latency constraint or "
            "an NSGA-II accuracy-latency front on the chosen profile, with random search beside it.",
    config_cls=EvolutionConfig, run=run_evolution, objectives=_OBJ, axes=("latency_ms", "accuracy"),
    paper="Cai et al., Once-for-All (ICLR 2020); Wang et al., HAT: Hardware-Aware Transformers (ACL 2020)",
    smoke={"checkpoint": "fresh-tiny", "generations": 2, "predictor_samples": 12, "predictor_epochs": 5,
           "eval_images": 50, "finetune": 1, "finetune_epochs": 0, "latency_source": "roofline",
           "winners_checked": 2},
    group_by="search",
))
register_technique(Technique(
    name="proxylessnas", title="ProxylessNAS",
    summary="Differentiable architecture search with binarised paths (two sampled per update) and an expected "
            "latency from the profile's lookup table in the loss; memory at the level of training one path.",
    config_cls=ProxylessConfig, run=run_proxyless, objectives=_OBJ, axes=("latency_ms", "accuracy"),
    paper="Cai et al., ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware, ICLR 2019",
    smoke={"widths": [8, 16], "resolution": 16, "head_width": 16, "epochs": 1, "train_limit": 128,
           "batch_size": 32, "arch_every": 1, "warmup_fraction": 0.0, "finetune_epochs": 0,
           "latency_source": "roofline", "baselines": "corners"},
    group_by="search",
))
