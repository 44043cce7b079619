"""SparseNets (Zhu et al., Sparsely Aggregated Convolutional Networks, ECCV 2018):
networks of the aggregation space (``engine.spaces.aggregation``: ResNet's sum,
DenseNet's concatenation, SparseNet's concatenation at exponential offsets)
trained at equal epochs on equal data and compared on accuracy, parameters,
MACs, training memory measured and latency (:mod:`.technique`)."""
from engine.registry import Technique, register_technique

from .technique import MODES, RECIPES, Config, TrainedNetwork, network_depth, networks_for, run, train_networks

__all__ = ["Config", "run", "train_networks", "networks_for", "network_depth", "TrainedNetwork", "MODES", "RECIPES"]

register_technique(Technique(
    name="sparsenet",
    title="SparseNets: sum, dense or sparse feature aggregation",
    summary="Trains ResNet-, DenseNet- and SparseNet-style networks (one aggregation space: sum of earlier outputs, "
            "concatenation of all, concatenation at offsets 1, 2, 4, 8, …) at equal epochs on equal data and "
            "compares accuracy, parameters, MACs, training memory measured (bytes autograd saves) and latency on "
            "the chosen profile.",
    config_cls=Config,
    run=run,
    objectives={"params": "min", "accuracy": "max"},
    axes=("params", "accuracy"),
    group_by="rule",
    breakdown={"Training memory, measured (bytes)": ("activation_bytes_measured", "param_bytes_measured",
                                                     "grad_bytes_measured", "optimizer_bytes_measured")},
    paper="Zhu, Deng, Maire, Deng, Mori, Tan. Sparsely Aggregated Convolutional Networks. ECCV 2018. arXiv:1801.05895",
    smoke={"dataset": "digits", "networks": ["densenet-16-8", "sparsenet-16-16"], "epochs": 1, "train_limit": 64,
           "test_limit": 32, "batch_size": 16, "memory_batch_size": 4, "latency_repeats": 1},
))
