"""Latency measured on the machine running the engine.

Each item is a module and its example inputs (``problem.example_inputs()``,
``space.example_inputs(arch, problem)``, ``op.example_inputs()``), run as
``model(*inputs)``.

Protocol: fixed thread count, ``warmup`` untimed runs, then ``repeats`` timed
runs (``clock``: wall time, or the thread's CPU time on a shared machine) (CUDA synchronised before and after each; garbage collection paused);
the result is the median with the inter-quartile spread (mean and standard
deviation are kept too, for lookup tables).
"""
from __future__ import annotations

import gc
import statistics
import time
from contextlib import contextmanager
from typing import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Measurement", "measure_latency", "measure_many", "summarize", "fixed_threads", "STATISTICS", "CLOCKS"]

STATISTICS = ("median", "min", "mean", "p25")
#: ``wall``: elapsed time (the latency a user sees; the default). ``thread``: CPU
#: time of the calling thread, for one thread on a shared machine, where other
#: processes preempt the timed runs: it counts only the time the model computed.
CLOCKS = ("wall", "thread")


@dataclass(frozen=True)
class Measurement:
    median_ms: float
    p25_ms: float
    p75_ms: float
    repeats: int
    threads: int
    device: str
    mean_ms: float = 0.0
    std_ms: float = 0.0
    min_ms: float = 0.0

    def stat(self, statistic: str = "median") -> float:
        """``median`` (default), ``min`` (robust on a shared, contended CPU:
        interruptions only ever add time), ``mean`` or ``p25``."""
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r} (one of {', '.join(STATISTICS)})")
        return {"median": self.median_ms, "min": self.min_ms, "mean": self.mean_ms, "p25": self.p25_ms}[statistic]

    @property
    def spread_ms(self) -> float:
        return self.p75_ms - self.p25_ms


@contextmanager
def fixed_threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(old)


def _time_runs(model: nn.Module, x: tuple[torch.Tensor, ...], warmup: int, repeats: int, cuda: bool,
               clock: Callable[[], float] = time.perf_counter) -> list[float]:
    for _ in range(warmup):
        model(*x)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = clock()
        model(*x)
        if cuda:
            torch.cuda.synchronize()
        times.append((clock() - t0) * 1e3)
    return times


def _clock(clock: str, threads: int | None, device: str) -> Callable[[], float]:
    if clock == "wall":
        return time.perf_counter
    if clock == "thread":
        if threads != 1 or not device.startswith("cpu"):
            raise ValueError("clock='thread' (CPU time of the calling thread) needs threads=1 on the CPU")
        return time.thread_time
    raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")


def summarize(times: list[float], threads: int, device: str) -> Measurement:
    """The statistics of a list of run times (ms)."""
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    std = statistics.stdev(times) if len(times) >= 2 else 0.0
    return Measurement(statistics.median(times), q[0], q[2], len(times), threads, device, statistics.fmean(times),
                       std, min(times))


@torch.inference_mode()
def measure_latency(model: nn.Module, example_inputs: Sequence[torch.Tensor], *, warmup: int = 3, repeats: int = 10,
                    threads: int | None = None, device: str = "cpu", clock: str = "wall") -> Measurement:
    """One module's latency on ``model(*example_inputs)``."""
    return measure_many([(model, example_inputs)], warmup=warmup, repeats=repeats, threads=threads, device=device,
                        clock=clock)[0]


@torch.inference_mode()
def measure_many(items: Sequence[tuple[nn.Module, Sequence[torch.Tensor]]], *, warmup: int = 3, repeats: int = 10,
                 rounds: int = 1, threads: int | None = None, device: str = "cpu", clock: str = "wall",
                 progress: Callable[[int, int], None] | None = None) -> list[Measurement]:
    """Measure several models, interleaved: ``rounds`` passes over all of them,
    each timing ``ceil(repeats / rounds)`` runs per model (after ``warmup``
    runs in the first pass, one afterwards), so a burst of load from other
    processes spreads over many models instead of spoiling one.
    ``progress(done, total)`` is called after each model of each pass."""
    if repeats < 1 or warmup < 0 or rounds < 1:
        raise ValueError("repeats and rounds must be >= 1 and warmup >= 0")
    cuda = device.startswith("cuda")
    timer = _clock(clock, threads, device)
    for _, inputs in items:
        if isinstance(inputs, torch.Tensor) or not all(isinstance(t, torch.Tensor) for t in inputs):
            raise ValueError("each item is (module, example inputs): a tuple of tensors, e.g. problem.example_inputs()")
    prepared = [(m.to(device).eval(), tuple(t.to(device) for t in inputs)) for m, inputs in items]
    per_round = -(-repeats // rounds)
    times: list[list[float]] = [[] for _ in prepared]
    gc_was = gc.isenabled()
    gc.disable()  # a collection inside a timed run is noise, not the model's latency
    try:
        with fixed_threads(threads) as n:
            total, done = rounds * len(prepared), 0
            for r in range(rounds):
                for i, (model, x) in enumerate(prepared):
                    times[i].extend(_time_runs(model, x, warmup if r == 0 else min(1, warmup), per_round, cuda, timer))
                    done += 1
                    if progress is not None:
                        progress(done, total)
    finally:
        if gc_was:
            gc.enable()
    return [summarize(t, n, device) for t in times]
