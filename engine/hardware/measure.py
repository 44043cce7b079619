"""Latency measured on the machine running the engine.

Protocol: fixed thread count, ``warmup`` untimed runs, then ``repeats`` timed
runs (CUDA synchronised before and after each); the result is the median with
the inter-quartile spread.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Measurement", "measure_latency", "fixed_threads"]


@dataclass(frozen=True)
class Measurement:
    median_ms: float
    p25_ms: float
    p75_ms: float
    repeats: int
    threads: int
    device: str

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


@torch.inference_mode()
def measure_latency(model: nn.Module, input_shape: tuple[int, ...], *, warmup: int = 3, repeats: int = 10,
                    threads: int | None = None, device: str = "cpu") -> Measurement:
    if repeats < 1 or warmup < 0:
        raise ValueError("repeats must be >= 1 and warmup >= 0")
    model = model.to(device).eval()
    x = torch.randn(input_shape, device=device)
    cuda = device.startswith("cuda")
    with fixed_threads(threads) as n:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return Measurement(statistics.median(times), q[0], q[2], repeats, n, device)
