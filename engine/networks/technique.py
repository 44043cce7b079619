"""The ``network-latency`` technique: a saved network's latency on a profile,
measured where the profile is this machine (or its device worker), beside the
best estimate the profile has (its lookup table or predictor for a search-space
network, else the roofline), each with its source."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import ConfigBase, param
from ..hardware.latency import latency_for
from ..outputs import NetworkLatencyOutput
from ..problems import PROBLEMS
from ..registry import Technique, register_technique
from ..reporter import Reporter, Summary
from .builders import space_of
from . import load_network_setting

__all__ = ["MeasureConfig", "run_measure"]


@dataclass(frozen=True)
class MeasureConfig(ConfigBase):
    network: str = param("", help="The saved network to measure (a network folder on the CLI)", max_length=500,
                         network=tuple(PROBLEMS))
    repeats: int = param(30, help="Timed forward passes (median reported)", min=1, max=1000)
    warmup: int = param(5, help="Untimed forward passes before timing", min=0, max=100)
    threads: int = param(1, help="CPU threads while timing (0: PyTorch's default)", min=0, max=256)
    measure_on_device: bool = param(False, help="Run on the profile's own device worker (queue device.<profile>) "
                                               "and measure there instead of estimating")

    def check(self) -> dict[str, str]:
        return {} if self.network else {"network": "choose the network to measure"}


def _estimate(est, net, module, inputs):
    if net.spec.builder == "space" and getattr(est, "space", None) is not None:
        return est.estimate(net.spec.args["arch"])
    return est.estimate_model(module, inputs)


def run_measure(config: MeasureConfig, hardware: Any, reporter: Reporter) -> Summary:
    reporter.progress(0.0, "loading the network")
    net, module = load_network_setting(config.network, kinds=tuple(PROBLEMS), setting="network")
    inputs = net.problem.example_inputs()
    space = space_of(net.spec.args) if net.spec.builder == "space" else None
    reporter.progress(0.1, f"latency of {net.name} on {hardware.name}")
    final = latency_for(hardware, space=space, problem=net.problem, purpose="final",
                        measure={"threads": config.threads or None, "warmup": config.warmup,
                                 "repeats": config.repeats})
    estimates = [_estimate(final, net, module, inputs)]
    if estimates[0].source == "measured":  # the best estimate beside the measurement
        reporter.progress(0.8, "the profile's estimate beside the measurement")
        est = latency_for(hardware, space=space, problem=net.problem, purpose="search")
        estimates.append(_estimate(est, net, module, inputs))
    main = estimates[0]
    metrics: dict[str, Any] = {**main.as_metrics(), **{k: v for k, v in net.metrics.items()
                                                       if k in ("accuracy", "accuracy_source", "params", "macs")}}
    if len(estimates) > 1:
        metrics.update(predicted_latency_ms=estimates[1].ms, predicted_latency_source=estimates[1].source,
                       latency_error=(estimates[1].ms - main.ms) / main.ms if main.ms > 0 else None)
    reporter.candidate({"network": net.name, "network_id": net.id}, metrics)
    reporter.output(NetworkLatencyOutput(network=net.id, estimates=tuple(
        {"source": e.source, "latency_ms": e.ms, "spread_ms": e.spread_ms} for e in estimates)))
    reporter.progress(1.0, "done")
    line = "; ".join(f"{e.ms:.3f} ms ({e.source})" for e in estimates)
    return Summary(f"{net.name} on {hardware.name}: {line}", {"latency_ms": main.ms, "latency_source": main.source,
                                                              "network": net.name})


register_technique(Technique(
    name="network-latency", title="Latency of a saved network",
    summary="Measures a saved network on the profile (this machine, or the profile's device worker) beside the "
            "profile's best estimate, each with its source; the network's page shows them.",
    config_cls=MeasureConfig, run=run_measure, objectives={"latency_ms": "min"},
    axes=("latency_ms", "accuracy"), fallback_axes=("latency_ms", "params"), smoke={}))
