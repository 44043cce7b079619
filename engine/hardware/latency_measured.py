"""Measured latency on the machine running the engine (CPU, or CUDA when present).

Protocol (also the lookup tables' and the device agent's):

1. the thread count is fixed (``torch.set_num_threads``) for the whole
   measurement and recorded;
2. the model is put in eval mode under ``torch.inference_mode`` with a random
   input of the architecture's shape (batch 1);
3. ``warmup`` untimed runs let caches, allocators and (on GPU) cuDNN autotune settle;
4. ``repeats`` timed runs with ``time.perf_counter``; on CUDA the device is
   synchronised before and after each run so the kernel time is included;
5. the latency is the **median** of the runs, and the spread is the
   inter-quartile range (p75 - p25). On a shared, contended CPU (other
   processes preempt the timed runs, so the median drifts with the load) pass
   ``statistic="min"``: interruptions only ever add time, and the minimum of
   20-30 runs is the most repeatable figure there. The statistic used is
   recorded with every table and estimate. With one thread, ``clock="thread"``
   times the thread's CPU time instead of wall time: preemption by other
   processes is then not counted at all (on this project's shared 2-core box it
   cut the run-to-run spread from about 20 % to 2 %).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import torch
from torch import nn

from .latency.base import LatencyEstimate, LatencyEstimator
from .measure import CLOCKS, STATISTICS, Measurement, measure_many

if TYPE_CHECKING:  # pragma: no cover
    from ..spaces.base import SearchSpace
    from .profile import HardwareProfile

__all__ = ["MeasuredLatency", "default_device"]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class MeasuredLatency(LatencyEstimator):
    """Times each architecture (built by ``space.build``) or module on this machine."""

    source = "measured"

    def __init__(self, profile: "HardwareProfile | None" = None, space: "SearchSpace | None" = None, *,
                 device: str = "cpu", threads: int | None = 1, warmup: int = 5, repeats: int = 20,
                 num_classes: int = 10, in_channels: int = 3, seed: int = 0, statistic: str = "median",
                 rounds: int = 1, clock: str = "wall"):
        super().__init__(profile, space)
        if repeats < 1 or warmup < 0:
            raise ValueError("repeats must be >= 1 and warmup >= 0")
        self.device, self.threads, self.warmup, self.repeats = device, threads, warmup, repeats
        self.num_classes, self.in_channels, self.seed = num_classes, in_channels, seed
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r} (one of {', '.join(STATISTICS)})")
        self.statistic = statistic
        self.rounds = max(1, int(rounds))
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")
        self.clock = clock

    def measure(self, model: nn.Module, input_shape: tuple[int, ...]) -> Measurement:
        return measure_many([(model, input_shape)], warmup=self.warmup, repeats=self.repeats, rounds=self.rounds,
                            threads=self.threads, device=self.device, clock=self.clock)[0]

    def _estimate(self, m: Measurement, **detail: Any) -> LatencyEstimate:
        return LatencyEstimate(m.stat(self.statistic), self.source, m.spread_ms, self.profile_name,
                               {"threads": m.threads, "repeats": m.repeats, "device": m.device,
                                "statistic": self.statistic, "clock": self.clock, "median_ms": m.median_ms, "min_ms": m.min_ms, **detail})

    def estimate_model(self, model: nn.Module, input_shape: tuple[int, ...], **kwargs: Any) -> LatencyEstimate:
        return self._estimate(self.measure(model, input_shape))

    def _build(self, arch: dict[str, Any]) -> nn.Module:
        space = self._need_space()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return space.build(arch, self.num_classes, self.in_channels)

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        space = self._need_space()
        return self._estimate(self.measure(self._build(arch), space.input_shape(arch, self.in_channels)))

    def estimate_many(self, archs: Iterable[dict[str, Any]], *,
                      progress: Callable[[int, int], None] | None = None) -> list[LatencyEstimate]:
        """All architectures measured interleaved in ``rounds`` passes (see
        :func:`engine.hardware.measure.measure_many`)."""
        space = self._need_space()
        archs = list(archs)
        items = [(self._build(a), space.input_shape(a, self.in_channels)) for a in archs]
        ms = measure_many(items, warmup=self.warmup, repeats=self.repeats, rounds=self.rounds,
                          threads=self.threads, device=self.device, clock=self.clock, progress=progress)
        return [self._estimate(m) for m in ms]
