"""What the dashboard knows about metric names: label, unit and direction.

Techniques may report any metric; the ones listed here get nice labels and a
known direction (used for fronts and constraints). Unknown numeric metrics are
shown by name with no direction.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MetricInfo", "METRICS", "metric_info", "direction", "ESTIMATE_SOURCES", "source_key", "source_label",
           "estimate_source"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    unit: str = ""
    direction: str | None = None  # "min" | "max" | None
    log_scale: bool = False


_LIST = [
    MetricInfo("accuracy", "Accuracy", "", "max"),
    MetricInfo("latency_ms", "Latency", "ms", "min"),
    MetricInfo("predicted_latency_ms", "Predicted latency", "ms", "min"),
    MetricInfo("measured_latency_ms", "Measured latency", "ms", "min"),
    MetricInfo("params", "Parameters", "", "min", True),
    MetricInfo("macs", "MACs", "", "min", True),
    MetricInfo("peak_memory_bytes", "Peak activation memory", "B", "min", True),
    MetricInfo("training_memory_bytes_measured", "Training memory (measured)", "B", "min", True),
    MetricInfo("training_memory_bytes_analytic", "Training memory (analytic)", "B", "min", True),
    MetricInfo("energy_mj", "Energy", "mJ", "min"),
    MetricInfo("psnr", "PSNR", "dB", "max"),
    MetricInfo("mse", "MSE", "", "min", True),
    MetricInfo("ssim", "SSIM", "", "max"),
    MetricInfo("loss", "Loss", "", "min"),
    MetricInfo("val_loss", "Validation loss", "nats/token", "min"),
    MetricInfo("bleu", "BLEU", "", "max"),
    MetricInfo("chrf", "chrF", "", "max"),
]
METRICS: dict[str, MetricInfo] = {m.name: m for m in _LIST}


def metric_info(name: str) -> MetricInfo:
    if name in METRICS:
        return METRICS[name]
    guess = None
    low = name.lower()
    if any(k in low for k in ("latency", "_ms", "memory", "bytes", "params", "macs", "mse", "error", "loss")):
        guess = "min"
    elif any(k in low for k in ("accuracy", "acc", "psnr", "ssim", "score")):
        guess = "max"
    return MetricInfo(name, name.replace("_", " ").capitalize(), "", guess)


def direction(name: str) -> str | None:
    return metric_info(name).direction


#: where a value came from, when it was not measured: latency from the roofline
#: model, a per-op lookup table (summed) or a learned predictor; accuracy from the
#: accuracy predictor; energy from per-op energies (``energy-model``: Horowitz,
#: ISSCC 2014, 45 nm). Shown as "(estimate)" wherever the value is drawn.
ESTIMATE_SOURCES = frozenset({"roofline", "lut", "predictor", "energy-model"})


_UNITS = ("_ms", "_bytes", "_mb", "_uj")


def source_key(metric: str) -> str:
    """The metrics key that names where ``metric`` came from, its unit left out:
    ``latency_ms`` -> ``latency_source``, ``predicted_latency_ms`` ->
    ``predicted_latency_source``, ``accuracy`` -> ``accuracy_source``."""
    for unit in _UNITS:
        if metric.endswith(unit):
            metric = metric[: -len(unit)]
            break
    return metric + "_source"


def estimate_source(metrics: dict, key: str) -> str:
    """Where ``metrics[key]`` came from when that is an estimate (roofline,
    lookup table, predictor), else "" (measured, or not said)."""
    if key.endswith("_source"):
        return ""
    src = str(metrics.get(source_key(key), ""))
    return src if src in ESTIMATE_SOURCES else ""


def source_label(source: str) -> str:
    """``"roofline"`` -> ``"roofline (estimate)"``; measured sources unchanged."""
    return f"{source} (estimate)" if source in ESTIMATE_SOURCES else source
