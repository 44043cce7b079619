"""Peak CPU memory of a piece of work, from the allocator events the PyTorch
profiler records (``profile_memory=True``): the running sum of allocations
minus frees, relative to the start."""
from __future__ import annotations

from typing import Callable

from torch.profiler import ProfilerActivity, profile

__all__ = ["peak_allocated_bytes"]


def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]  # type: ignore[union-attr]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += int(e.nbytes())
        peak = max(peak, current)
    return peak
