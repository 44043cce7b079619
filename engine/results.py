"""A CLI run's results folder: ``candidates.csv`` / ``.json``, ``series.json``,
``summary.json`` and ``artifacts/``, written into a staging folder and then
renamed into place, so the folder is either whole or absent."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .cli_reporter import DirectoryReporter
from .config import ConfigBase
from .search.pareto import front_indices
from .registry import Technique
from .reporter import Summary, clean_metrics

__all__ = ["write_results", "publish"]


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=False, default=str), encoding="utf-8")


def write_results(staging: Path, technique: Technique, config: ConfigBase, hardware: Any, rep: DirectoryReporter,
                  summary: Summary | None, status: str, error: str, started: float) -> dict[str, Any]:
    """Write what ``rep`` collected into ``staging``; returns the summary written."""
    names = {k for _, m in rep.candidates for k, v in m.items() if _numeric(v)}
    objectives = {k: d for k, d in technique.objectives_for(names).items() if k in names}
    front = front_indices([m for _, m in rep.candidates], objectives)
    on_front = set(front)
    metric_cols: list[str] = []
    for _, m in rep.candidates:
        metric_cols.extend(k for k in m if k not in metric_cols)
    with open(staging / "candidates.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "architecture", *metric_cols, "on_front"])
        for i, (arch, m) in enumerate(rep.candidates):
            w.writerow([i, json.dumps(arch, sort_keys=True, default=str),
                        *("" if m.get(k) is None else m[k] for k in metric_cols), i in on_front])
    _write_json(staging / "candidates.json", [{"index": i, "architecture": a, "metrics": m, "on_front": i in on_front}
                                              for i, (a, m) in enumerate(rep.candidates)])
    _write_json(staging / "series.json", {k: [[s, v] for s, v in pts] for k, pts in rep.points.items()})
    out = {
        "technique": technique.name, "title": technique.title, "status": status,
        "message": summary.message if summary else (error.splitlines()[-1] if error else rep.last_progress[1]),
        # cleaned as the web stores it: a NaN (a Kendall tau of two rows) is null, a technique's tables kept
        "metrics": clean_metrics(summary.metrics, nested=True) if summary else {}, "error": error,
        "config": config.to_dict(), "hardware": hardware.to_dict(),
        "candidates": len(rep.candidates), "objectives": objectives, "front": front,
        "axes": list(technique.axes_for(names)), "series": sorted(rep.points), "artifacts": rep.artifacts,
        "outputs": rep.outputs, "progress": rep.last_progress[0],
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
    }
    _write_json(staging / "summary.json", out)
    return out


def publish(staging: Path, out: Path) -> None:
    """Rename the finished staging folder to ``out`` (replacing an old one last)."""
    old = None
    if out.exists():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
