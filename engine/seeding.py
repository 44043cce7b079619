"""One seed for a whole technique run, in one place.

Every registered technique's ``run`` goes through :func:`seeded_run` (the
registry wraps it once, at registration), so the CLI, the dashboard's worker,
the benches and the tests all run a technique inside :func:`deterministic`:

- Python's ``random``, NumPy's global generator and torch's global generator
  (CPU and CUDA) are seeded from the config's ``seed`` (0 for a technique
  without one) at the start of the run, and put back as they were after it,
  so a run does not depend on what the process did before, and leaves the
  caller's random state alone. Techniques still draw their own randomness
  from generators seeded from the config (STYLE.md, principle 6); this covers
  what they do not: a library drawing from a global generator, a module built
  without a generator.
- torch's deterministic algorithms are on for the run
  (``torch.use_deterministic_algorithms(True, warn_only=True)``: an op with no
  deterministic implementation warns instead of failing), cuDNN deterministic
  and not benchmarking, cuBLAS given its deterministic workspace.

With that, a run's seed fixes its results on one machine with one set of
library versions. What it cannot fix: figures timed on this machine (a
``measured`` latency) and whatever a technique chooses on them.

:func:`numerics_key` is what, besides the settings, fixes the weights a
training produces here (the intra-op thread count changes the order of float
sums; the torch version the kernels): every cache of trained weights puts it
in its key, so a cache hit gives the weights a fresh training would.
"""
from __future__ import annotations

import functools
import os
import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch

__all__ = ["seed_everything", "deterministic", "seeded_run", "config_seed", "numerics_key"]

F = TypeVar("F", bound=Callable[..., Any])


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's (CPU and
    every CUDA device) with ``seed``."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily when CUDA is not started yet)


def config_seed(config: Any) -> int:
    """A config's ``seed`` setting, 0 for a technique without one."""
    seed = getattr(config, "seed", 0)
    return int(seed) if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) else 0


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Inside the block: every global generator seeded with ``seed`` and torch's
    deterministic algorithms on; after it, both as they were (also on error)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn
    cudnn_flags = (cudnn.deterministic, cudnn.benchmark)
    # cuBLAS reads this when CUDA starts; without it a deterministic matmul on CUDA fails or warns
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        try:
            seed_everything(seed)
            torch.use_deterministic_algorithms(True, warn_only=True)
            cudnn.deterministic, cudnn.benchmark = True, False
            yield
        finally:
            torch.use_deterministic_algorithms(was_on, warn_only=was_warn)
            cudnn.deterministic, cudnn.benchmark = cudnn_flags
            random.setstate(py_state)
            np.random.set_state(np_state)


def seeded_run(run: F) -> F:
    """``run(config, hardware, reporter)`` inside :func:`deterministic` with the
    config's seed. Wrapping twice wraps once; the bare function is ``__wrapped__``."""
    if getattr(run, "_seeded", False):
        return run

    @functools.wraps(run)
    def wrapper(config, hardware, reporter, *args, **kwargs):
        with deterministic(config_seed(config)):
            return run(config, hardware, reporter, *args, **kwargs)

    wrapper._seeded = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def numerics_key() -> dict[str, Any]:
    """What besides the settings fixes a training's weights in this process: the
    intra-op thread count and the torch version. Part of every cache key of
    trained weights."""
    return {"threads": torch.get_num_threads(), "torch": torch.__version__}
