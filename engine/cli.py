"""The engine's command line, without Django.

    python -m engine list [TECHNIQUE] [--json]     techniques and their settings, from the registry
    python -m engine profiles [--json]             built-in hardware profiles
    python -m engine run TECHNIQUE --hardware NAME|FILE --set key=value ... --out DIR [--seed N] [--force]
    python -m engine networks DIR [--json]                      the networks a results folder saved
    python -m engine networks DIR --export NAME|ID --format onnx|torchscript|safetensors --to FILE
    python -m engine networks DIR --export NAME|ID --format onnx-split --to FOLDER   (an encoder-decoder)

``run`` validates every flag before anything is written (a bad one: a message
naming it, exit code 2). Results are written into a hidden staging folder
next to ``DIR`` and renamed to ``DIR`` at the end, so ``DIR`` is either whole or
absent. A run that is cancelled (Ctrl-C), interrupted (Ctrl-C twice) or fails
still writes what it found, with its status in ``summary.json``.

Exit codes: 0 succeeded, 1 the technique failed, 2 bad usage, 130 cancelled.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from .cli_reporter import DirectoryReporter
from .config import ConfigBase, ConfigError, FieldSpec
from .registry import Technique, techniques
from .reporter import Cancelled, Summary
from .results import publish, write_results

__all__ = ["main", "UsageError", "resolve_hardware", "parse_sets", "build_parser"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad flag; the message names it. Exit code 2."""


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
        config = technique.parse(data)
    except ConfigError as e:
        lines = "\n".join(f"  {k}: {v}" for k, v in e.errors.items())
        raise UsageError(f"invalid settings for {technique.name}:\n{lines}") from None
    _check_network_settings(technique, config)
    return config


def _check_network_settings(technique: Technique, config: ConfigBase) -> None:
    """A ``network`` setting names a saved network folder of a kind the technique takes."""
    from .networks import NetworkError, read_network

    for s in technique.config_cls.specs():
        value = getattr(config, s.name)
        if s.network is None or not value:
            continue
        try:
            net = read_network(Path(value).expanduser())
        except NetworkError as e:
            raise UsageError(f"--set {s.name}: {e} (give a folder under a results folder's networks/; "
                             "see `python -m engine networks DIR`)") from None
        if net.problem.kind not in s.network:
            raise UsageError(f"--set {s.name}: {net.name} is a {net.problem.kind} network; "
                             f"{technique.name} takes {' or '.join(s.network)}")


def _out_dir(value: str, force: bool) -> Path:
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {value} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out: {value} exists and is not empty (pass --force to replace it)")
    return out


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
        info = write_results(staging, technique, config, hardware, rep, summary, status, error, started)
        publish(staging, out)
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


def _fmt_metric(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def cmd_networks(args: argparse.Namespace) -> int:
    from .networks import (EXPORT_FORMATS, NetworkError, SplitExportError, can_split, export_onnx, export_onnx_split,
                           export_torchscript, list_networks, load_network)

    root = Path(args.folder)
    if not root.is_dir():
        raise UsageError(f"{args.folder} is not a folder")
    nets = list_networks(root / "networks" if (root / "networks").is_dir() else root)
    if args.export is None:
        if args.json:
            print(json.dumps([{"folder": str(f), **n.to_dict()} for f, n in nets], indent=1))
            return EXIT_OK
        if not nets:
            print(f"no saved networks under {root}")
            return EXIT_OK
        print(f"{'id':<10} {'name':<32} {'problem':<22} {'dataset':<14} {'accuracy':>9} {'params':>10} "
              f"{'latency ms':>11}  parent")
        for _, n in nets:
            m = n.metrics
            print(f"{n.id[:8]:<10} {n.name[:32]:<32} {n.problem.kind:<22} {n.dataset[:14]:<14} "
                  f"{_fmt_metric(m.get('accuracy')):>9} {_fmt_metric(m.get('params')):>10} "
                  f"{_fmt_metric(m.get('latency_ms')):>11}  {(n.parent or {}).get('name', '')}")
        return EXIT_OK
    if args.format not in EXPORT_FORMATS:
        raise UsageError(f"--format: one of {', '.join(EXPORT_FORMATS)}")
    if not args.to:
        raise UsageError("--to: the file to write")
    hits = [(f, n) for f, n in nets if n.name == args.export or n.id.startswith(args.export)]
    if len(hits) != 1:
        raise UsageError(f"--export {args.export!r}: {'no' if not hits else len(hits)} networks match "
                         "(give a name or the start of an id, see the list)")
    folder, _ = hits[0]
    try:
        net, module = load_network(folder)
    except NetworkError as e:
        raise UsageError(f"--export: {e}") from None
    target = Path(args.to)
    if args.format == "onnx-split":
        if not can_split(module):
            raise UsageError(f"--format onnx-split: {net.name} is not an encoder-decoder")
        try:
            check = export_onnx_split(module, net.problem, target)
        except SplitExportError as e:
            raise UsageError(f"--format onnx-split: {e}") from None
        diff = check["onnxruntime_max_abs_diff"]
        print(f"wrote {net.name}'s encoder.onnx and decoder_step.onnx to {target} (onnx.checker passed"
              + (f"; onnxruntime within {diff:.2g} of PyTorch)" if diff is not None else "; onnxruntime not installed)"))
        return EXIT_OK
    target.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "safetensors":
        shutil.copyfile(folder / "weights.safetensors", target)
    elif args.format == "onnx":
        export_onnx(module, net.problem.example_inputs(), target, net.problem)
    else:
        export_torchscript(module, net.problem.example_inputs(), target)
    print(f"wrote {net.name} as {args.format} to {target}")
    return EXIT_OK


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
    pn = sub.add_parser("networks", help="list the networks a results folder saved, or export one")
    pn.add_argument("folder", help="a results folder (its networks/) or a folder of network folders")
    pn.add_argument("--json", action="store_true", help="machine-readable list")
    pn.add_argument("--export", metavar="NAME|ID", help="export this network (a name or the start of its id)")
    pn.add_argument("--format", default="onnx", help="onnx, torchscript, safetensors or onnx-split (an encoder-decoder's "
                    "encoder and decoder step into the folder --to; default onnx)")
    pn.add_argument("--to", metavar="FILE", help="where to write the export")
    pn.set_defaults(func=cmd_networks)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # argparse exits with 2 on bad syntax
    try:
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
