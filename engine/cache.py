"""The engine's cache folder: ``$FRONTIER_CACHE_DIR`` (default ``./var/cache``).

Super-net checkpoints, TinyTL's pre-trained weights and measured latency
lookup tables live under it, so later runs find them by name or by key.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str) -> Path:
    """The cache folder (absolute), or a path under it: ``cache_dir("luts")``.
    Read from the environment on every call (tests point it elsewhere); not created."""
    return Path(os.environ.get("FRONTIER_CACHE_DIR", "var/cache")).resolve().joinpath(*parts)
