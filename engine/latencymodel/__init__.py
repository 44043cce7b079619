"""The ``latency-model`` technique (see :mod:`engine.latencymodel.technique`)."""
from ..registry import Technique, register_technique
from .technique import Config, run

register_technique(Technique(
    name="latency-model",
    title="Latency model: lookup table, predictor and roofline vs measured",
    summary="Measure sampled architectures of a search space on the worker's hardware, build the per-op lookup "
            "table and a learned predictor, and compare them and the profile's roofline with measured latency "
            "(MAPE, RMSE, Kendall tau) on held-out networks.",
    config_cls=Config,
    run=run,
    objectives={"latency_ms": "min", "macs": "min"},
    axes=("measured_ms", "predictor_ms"),
    paper="ProxylessNAS (arXiv:1812.00332), Once-for-All (arXiv:1908.09791), HAT (arXiv:2005.14187)",
    wants_device=True,
    smoke={"samples": 10, "holdout": 0.3, "lut_ops": "sampled", "warmup": 0, "repeats": 1, "rounds": 1,
           "epochs": 5, "hidden": 16},
))

__all__ = ["Config", "run"]
