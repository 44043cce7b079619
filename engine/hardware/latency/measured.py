"""Measured latency on the machine running the engine (CPU, or CUDA when present).

Protocol (also the lookup tables' and the device agent's):

1. the thread count is fixed (``torch.set_num_threads``) for the whole
   measurement and recorded;
2. the model is put in eval mode under ``torch.inference_mode`` and called as
   ``model(*example_inputs)`` on the problem's seeded example inputs (batch 1);
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

from ..measure import CLOCKS, STATISTICS, Measurement, measure_many
from .base import LatencyEstimate, LatencyEstimator

if TYPE_CHECKING:  # pragma: no cover
    from ...problems import Problem
    from ...spaces.base import SearchSpace
    from ..profile import HardwareProfile

__all__ = ["MeasuredLatency", "default_device"]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class MeasuredLatency(LatencyEstimator):
    """Times each architecture (built by ``space.build``) or module on this machine."""

    source = "measured"

    def __init__(self, profile: "HardwareProfile | None" = None, space: "SearchSpace | None" = None,
                 problem: "Problem | None" = None, *, device: str = "cpu", threads: int | None = 1, warmup: int = 5,
                 repeats: int = 20, seed: int = 0, statistic: str = "median", rounds: int = 1, clock: str = "wall"):
        super().__init__(profile, space, problem)
        if repeats < 1 or warmup < 0:
            raise ValueError("repeats must be >= 1 and warmup >= 0")
        self.device, self.threads, self.warmup, self.repeats = device, threads, warmup, repeats
        self.seed = seed
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r} (one of {', '.join(STATISTICS)})")
        self.statistic = statistic
        self.rounds = max(1, int(rounds))
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")
        self.clock = clock

    def measure(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> Measurement:
        return measure_many([(model, example_inputs)], warmup=self.warmup, repeats=self.repeats, rounds=self.rounds,
                            threads=self.threads, device=self.device, clock=self.clock)[0]

    def _estimate(self, m: Measurement, **detail: Any) -> LatencyEstimate:
        return LatencyEstimate(m.stat(self.statistic), self.source, m.spread_ms, self.profile_name,
                               {"threads": m.threads, "repeats": m.repeats, "device": m.device,
                                "statistic": self.statistic, "clock": self.clock, "median_ms": m.median_ms, "min_ms": m.min_ms, **detail})

    def estimate_model(self, model: nn.Module, example_inputs: tuple[torch.Tensor, ...],
                       **kwargs: Any) -> LatencyEstimate:
        return self._estimate(self.measure(model, tuple(example_inputs)))

    def _item(self, arch: dict[str, Any]) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        space, problem = self._need_space(), self._need_problem()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = space.build(arch, problem)
        return model, space.example_inputs(arch, problem, seed=self.seed)

    def estimate_arch(self, arch: dict[str, Any], **kwargs: Any) -> LatencyEstimate:
        return self._estimate(self.measure(*self._item(arch)))

    def estimate_many(self, archs: Iterable[dict[str, Any]], *,
                      progress: Callable[[int, int], None] | None = None) -> list[LatencyEstimate]:
        """All architectures measured interleaved in ``rounds`` passes (see
        :func:`engine.hardware.measure.measure_many`)."""
        items = [self._item(a) for a in archs]
        ms = measure_many(items, warmup=self.warmup, repeats=self.repeats, rounds=self.rounds,
                          threads=self.threads, device=self.device, clock=self.clock, progress=progress)
        return [self._estimate(m) for m in ms]
