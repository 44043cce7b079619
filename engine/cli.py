"""The engine's command line, without Django.

    python -m engine list [TECHNIQUE] [--json]     techniques and their settings, from the registry
    python -m engine profiles [--json]             built-in hardware profiles
    python -m engine run TECHNIQUE --hardware NAME|FILE --set key=value ... --out DIR [--seed N] [--force]

``run`` validates every flag before anything is written (a bad one: a message
naming it, exit code 2). Results are written into a hidden staging folder
next to ``DIR`` and renamed to ``DIR`` at the end, so ``DIR`` is either whole or
absent. A run that is cancelled (Ctrl-C), interrupted (Ctrl-C twice) or fails
still writes what it found, with its status in ``summary.json``.

Exit codes: 0 succeeded, 1 the technique failed, 2 bad usage, 130 cancelled.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from .config import ConfigBase, ConfigError, FieldSpec
from .registry import Technique, techniques
from .reporter import Cancelled, Reporter, Summary

__all__ = ["main", "DirectoryReporter", "UsageError", "resolve_hardware", "parse_sets", "front_indices"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad flag; the message names it. Exit code 2."""


# -- reporter -------------------------------------------------------------------------------------

class DirectoryReporter(Reporter):
    """Collects a run for writing into a folder: artifact files are copied into
    ``artifacts_dir`` as soon as they are handed over; progress drives a tqdm bar.

    ``request_cancel()`` (the CLI's Ctrl-C handler) makes the next reporter
    call raise :class:`Cancelled`.
    """

    def __init__(self, artifacts_dir: str | Path, *, workdir: str | Path | None = None, progress_bar: bool = True):
        super().__init__(workdir)
        self.artifacts_dir = Path(artifacts_dir)
        self.candidates: list[tuple[dict, dict]] = []
        self.points: dict[str, list[tuple[float, float]]] = {}
        self.artifacts: list[dict[str, Any]] = []
        self.last_progress: tuple[float, str] = (0.0, "")
        self._cancel = False
        self._bar = None
        if progress_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=1000, file=sys.stderr, dynamic_ncols=True, mininterval=0.2,
                             bar_format="{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {desc}")

    def request_cancel(self) -> None:
        self._cancel = True

    def is_cancelled(self) -> bool:
        return self._cancel

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _on_progress(self, fraction: float, message: str) -> None:
        self.last_progress = (fraction, message)
        if self._bar is not None:
            self._bar.n = int(round(fraction * 1000))
            self._bar.set_description_str(f"{len(self.candidates)} candidates | {message[:70]}", refresh=False)
            self._bar.refresh()

    def _on_candidate(self, architecture: dict, metrics: dict) -> None:
        self.candidates.append((architecture, metrics))

    def _on_series(self, name: str, step: float, value: float) -> None:
        self.points.setdefault(name, []).append((step, value))

    def _on_artifact(self, kind: str, path: Path, caption: str, group: str, candidate: int | None = None) -> None:
        folder = self.artifacts_dir / _safe_name(group) if group else self.artifacts_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _safe_name(path.name)
        k = 1
        while target.exists():
            target = folder / f"{_safe_name(path.stem)}-{k}{path.suffix}"
            k += 1
        shutil.copy2(path, target)
        self.artifacts.append({"kind": kind, "path": target.relative_to(self.artifacts_dir.parent).as_posix(),
                               "caption": caption, "group": group, "candidate": candidate})


def _safe_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return out[:120] or "file"


# -- flag parsing ---------------------------------------------------------------------------------

def resolve_hardware(value: str):
    """A built-in profile name, or a path to a profile YAML/JSON file."""
    from .hardware.profile import HardwareProfile, ProfileError, builtin_profiles

    builtin = {p.name: p for p in builtin_profiles()}
    if value in builtin:
        return builtin[value]
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--hardware: {value!r} is neither a built-in profile ({', '.join(builtin)}) nor a file")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError) as e:  # yaml.YAMLError and JSONDecodeError are ValueErrors
        raise UsageError(f"--hardware: cannot read {value}: {e}") from None
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError does not subclass ValueError
        raise UsageError(f"--hardware: cannot parse {value}: {e}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--hardware: {value} must hold a mapping of profile fields")
    try:
        return HardwareProfile.from_dict(data)
    except ProfileError as e:
        raise UsageError(f"--hardware: {value} is not a valid profile: {e}") from None
    except TypeError as e:
        raise UsageError(f"--hardware: {value} is not a valid profile: {e}") from None


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` into a dict; values stay strings (Config coerces them)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected key=value")
        if key in out:
            raise UsageError(f"--set {key}: given twice")
        out[key] = value
    return out


def _config_for(technique: Technique, sets: dict[str, str], seed: int | None) -> ConfigBase:
    data: dict[str, Any] = dict(sets)
    if seed is not None:
        if "seed" not in {s.name for s in technique.config_cls.specs()}:
            raise UsageError(f"--seed: technique {technique.name} has no seed setting")
        if "seed" in data:
            raise UsageError("--seed: the seed is also given with --set seed=...")
        data["seed"] = seed
    try:
        return technique.parse(data)
    except ConfigError as e:
        lines = "\n".join(f"  {k}: {v}" for k, v in e.errors.items())
        raise UsageError(f"invalid settings for {technique.name}:\n{lines}") from None


def _out_dir(value: str, force: bool) -> Path:
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {value} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out: {value} exists and is not empty (pass --force to replace it)")
    return out


# -- results --------------------------------------------------------------------------------------

def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def front_indices(technique: Technique, candidates: Sequence[tuple[dict, dict]]) -> tuple[dict[str, str], list[int]]:
    """The objectives this run is judged on and the indices of its non-dominated candidates."""
    names = {k for _, m in candidates for k, v in m.items() if _numeric(v)}
    objectives = {k: d for k, d in technique.objectives_for(names).items() if k in names}
    if not objectives:
        return objectives, []
    rows = [i for i, (_, m) in enumerate(candidates) if all(_numeric(m.get(k)) for k in objectives)]
    if not rows:
        return objectives, []
    import numpy as np

    from .search.pareto import non_dominated_sort

    f = np.array([[float(candidates[i][1][k]) * (1.0 if d == "min" else -1.0) for k, d in objectives.items()]
                  for i in rows])
    return objectives, sorted(rows[j] for j in non_dominated_sort(f)[0])


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, allow_nan=False, default=str), encoding="utf-8")


def _write_results(staging: Path, technique: Technique, config: ConfigBase, hardware: Any,
                   rep: DirectoryReporter, summary: Summary | None, status: str, error: str,
                   started: float) -> dict[str, Any]:
    objectives, front = front_indices(technique, rep.candidates)
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
    names = {k for _, m in rep.candidates for k, v in m.items() if _numeric(v)}
    out = {
        "technique": technique.name, "title": technique.title, "status": status,
        "message": summary.message if summary else (error.splitlines()[-1] if error else rep.last_progress[1]),
        "metrics": summary.metrics if summary else {}, "error": error,
        "config": config.to_dict(), "hardware": hardware.to_dict(),
        "candidates": len(rep.candidates), "objectives": objectives, "front": front,
        "axes": list(technique.axes_for(names)), "series": sorted(rep.points), "artifacts": rep.artifacts,
        "progress": rep.last_progress[0],
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 3),
    }
    _write_json(staging / "summary.json", out)
    return out


def _publish(staging: Path, out: Path) -> None:
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


# -- commands -------------------------------------------------------------------------------------

def _get_technique(name: str) -> Technique:
    if name not in techniques:
        raise UsageError(f"unknown technique {name!r}; known: {', '.join(techniques.names())}")
    return techniques.get(name)


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return ",".join(_fmt_value(x) for x in v)
    return str(v)


def _fmt_type(s: FieldSpec) -> str:
    return f"list of {s.kind}" if s.multiple else s.kind


def _spec_dict(s: FieldSpec) -> dict[str, Any]:
    d = asdict(s)
    d["default"] = list(s.default) if isinstance(s.default, tuple) else s.default
    d["choices"] = list(s.choices) if s.choices is not None else None
    d["type"] = _fmt_type(s)
    return d


def cmd_list(args: argparse.Namespace) -> int:
    items = [(n, t) for n, t in techniques.items() if not args.technique or n == args.technique]
    if args.technique and not items:
        raise UsageError(f"unknown technique {args.technique!r}; known: {', '.join(techniques.names())}")
    if args.json:
        print(json.dumps([{"name": n, "title": t.title, "summary": t.summary, "paper": t.paper,
                           "objectives": t.objectives, "axes": list(t.axes),
                           "fallback_objectives": t.fallback_objectives,
                           "fallback_axes": list(t.fallback_axes) if t.fallback_axes else None,
                           "smoke": t.smoke, "settings": [_spec_dict(s) for s in t.config_cls.specs()]}
                          for n, t in items], indent=1, default=str))
        return EXIT_OK
    for n, t in items:
        print(f"{n} - {t.title}")
        for line in textwrap.wrap(t.summary, 96):
            print(f"  {line}")
        objs = ", ".join(f"{k} ({d})" for k, d in t.objectives.items())
        print(f"  objectives: {objs}; axes: {t.axes[0]} vs {t.axes[1]}")
        if t.fallback_objectives:
            fb = ", ".join(f"{k} ({d})" for k, d in t.fallback_objectives.items())
            print(f"  when a run lacks one of them: {fb}")
        if t.paper:
            print(f"  paper: {t.paper}")
        print("  settings (--set name=value; lists comma-separated):")
        for s in t.config_cls.specs():
            print(f"    {s.name} ({_fmt_type(s)}) = {_fmt_value(s.default)}")
            bounds = s.describe_bounds()
            if bounds:
                print(textwrap.fill(bounds, 100, initial_indent="        ", subsequent_indent="        "))
            print(textwrap.fill(s.help, 100, initial_indent="        ", subsequent_indent="        "))
        print()
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    from .hardware.profile import builtin_profiles

    profiles = builtin_profiles()
    if args.json:
        print(json.dumps([p.to_dict() for p in profiles], indent=1))
        return EXIT_OK
    w = max(len(p.name) for p in profiles)
    print(f"{'name':<{w}}  {'kind':<12} {'fp32 GMAC/s':>11} {'GB/s':>8} {'memory MB':>10}  measurable  title")
    for p in profiles:
        print(f"{p.name:<{w}}  {p.kind:<12} {p.peak('fp32'):>11g} {p.memory_bandwidth_gbs:>8g} "
              f"{p.memory_capacity_mb:>10g}  {'yes' if p.measurable else 'no':<10}  {p.title}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # Validate everything before anything is written.
    technique = _get_technique(args.technique)
    hardware = resolve_hardware(args.hardware)
    config = _config_for(technique, parse_sets(args.set or []), args.seed)
    out = _out_dir(args.out, args.force)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the results folder is not
    workdir = Path(tempfile.mkdtemp(prefix="frontier-cli-"))
    rep = DirectoryReporter(staging / "artifacts", workdir=workdir, progress_bar=not args.quiet)
    started = time.time()
    summary: Summary | None = None
    status, error, code = "succeeded", "", EXIT_OK

    def on_sigint(signum, frame):  # first Ctrl-C: cancel at the next report; second: interrupt now
        rep.request_cancel()
        print("\ncancelling at the next report (Ctrl-C again to stop at once) ...", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    import threading

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        summary = technique.run(config, hardware, rep)
    except Cancelled:
        status, code = "cancelled", EXIT_CANCELLED
    except KeyboardInterrupt:
        status, code = "interrupted", EXIT_CANCELLED
    except Exception:  # noqa: BLE001 - the run failed: keep what it found and say why
        status, code, error = "failed", EXIT_FAILED, traceback.format_exc()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        rep.close()
    try:
        info = _write_results(staging, technique, config, hardware, rep, summary, status, error, started)
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if error:
        print(error, file=sys.stderr)
    print(f"{status}: {info['message']}")
    print(f"{info['candidates']} candidates ({len(info['front'])} on the front) written to {out}")
    return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine", description="Frontier engine: run techniques without Django.")
    sub = p.add_subparsers(dest="command", required=True)
    pl = sub.add_parser("list", help="techniques and their settings")
    pl.add_argument("technique", nargs="?", help="show only this technique")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.set_defaults(func=cmd_list)
    pp = sub.add_parser("profiles", help="built-in hardware profiles")
    pp.add_argument("--json", action="store_true", help="machine-readable output")
    pp.set_defaults(func=cmd_profiles)
    pr = sub.add_parser("run", help="run a technique and write its results into a folder")
    pr.add_argument("technique", help="a registered technique (see `list`)")
    pr.add_argument("--hardware", default="local-cpu", help="built-in profile name or a profile YAML/JSON file "
                                                            "(default: local-cpu)")
    pr.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting (repeatable)")
    pr.add_argument("--seed", type=int, help="shorthand for --set seed=N")
    pr.add_argument("--out", required=True, help="results folder (created; must be absent or empty)")
    pr.add_argument("--force", action="store_true", help="replace --out if it exists")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on bad syntax
    try:
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
