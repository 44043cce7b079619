"""A run's seed fixes its results on this machine and these library versions.

The slow test runs HAQ and AMC (smoke settings, on ``raspberry-pi-4``, a
profile priced by the roofline, so no timing enters a choice) twice each
through ``python -m engine run`` in fresh processes with different
``PYTHONHASHSEED``s and different caches, and compares everything the runs
wrote except what the wall clock or a fresh id decides (named below).
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine import MemoryReporter, techniques
from engine.amc.technique import base_network, base_network_key
from engine.haq import run_haq
from engine.hardware import get_profile
from engine.hardware.measure import fixed_threads
from engine.seeding import deterministic, numerics_key, seeded_run

ROOT = Path(__file__).resolve().parents[2]
#: read from the wall clock: the only figures allowed to differ between two runs
WALL_CLOCK = frozenset({"started_at", "duration_s", "wall_s", "search_wall_s"})
#: fresh for every saved network (uuid4): its id, its parent's, when it was written, the file digest holding the id
IDENTITY = frozenset({"id", "created_at", "weights"})
#: a network's folder ends in the first 8 hex digits of its id
_FOLDER_ID = re.compile(r"-[0-9a-f]{8}$")
#: an estimate-only profile: the roofline prices every latency, nothing is timed
PROFILE = "raspberry-pi-4"


def _without(obj, drop: frozenset[str]):
    if isinstance(obj, dict):
        return {k: _without(v, drop) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_without(v, drop) for v in obj]
    if isinstance(obj, str) and obj.startswith("networks/"):
        return _FOLDER_ID.sub("", obj)
    return obj


def _results(out: Path) -> dict:
    """What a results folder says, less the wall clock and the fresh ids; each
    kept network's tensors and each artifact's bytes included."""
    res = {name: _without(json.loads((out / name).read_text()), WALL_CLOCK)
           for name in ("summary.json", "candidates.json", "series.json")}
    for folder in sorted((out / "networks").iterdir()) if (out / "networks").is_dir() else ():
        meta = _without(json.loads((folder / "network.json").read_text()), IDENTITY)
        tensors = {k: v.numpy().tobytes() for k, v in sorted(load_file(folder / "weights.safetensors").items())}
        res[f"network {_FOLDER_ID.sub('', folder.name)}"] = (meta, tensors)
    for f in sorted((out / "artifacts").rglob("*")) if (out / "artifacts").is_dir() else ():
        if f.is_file():
            res[f"artifact {f.relative_to(out)}"] = f.read_bytes()
    return res


def _cli(name: str, settings: dict, out: Path, *, cache: Path, hash_seed: int) -> dict:
    sets: list[str] = []
    for k, v in settings.items():
        text = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v).lower() if isinstance(v, bool) \
            else str(v)
        sets += ["--set", f"{k}={text}"]
    env = {**os.environ, "FRONTIER_CACHE_DIR": str(cache), "PYTHONHASHSEED": str(hash_seed)}
    proc = subprocess.run([sys.executable, "-m", "engine", "run", name, "--hardware", PROFILE, *sets,
                           "--out", str(out), "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return _results(out)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], f"{k} differs between the two runs"


@pytest.mark.slow
def test_haq_and_amc_give_the_same_results_in_fresh_processes_with_a_cold_or_a_warm_cache(tmp_path, monkeypatch):
    haq = {**techniques.get("haq").smoke, "val_images": 150}
    amc = {**techniques.get("amc").smoke, "val_images": 150}
    assert not get_profile(PROFILE).measurable and haq["measure_int8"] is False  # nothing timed on this machine

    # a cache holding the base network of other settings: the smoke's 100 held-out images, which leave a
    # different training split (a key without val_images took it for this run's)
    other = tmp_path / "cache-other"
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(other))
    with fixed_threads(1):  # the runs' own thread count (HAQ's and AMC's ``threads`` setting)
        base_network(techniques.get("haq").parse(techniques.get("haq").smoke), MemoryReporter())

    cold = _cli("haq", haq, tmp_path / "haq-cold", cache=tmp_path / "cache", hash_seed=1)
    beside = _cli("haq", haq, tmp_path / "haq-beside-other", cache=other, hash_seed=2)
    _assert_same(cold, beside)
    assert len(list((other / "amc-base").iterdir())) == 2  # trained its own: the other settings' was no hit

    warm = _cli("amc", amc, tmp_path / "amc-warm", cache=tmp_path / "cache", hash_seed=3)  # HAQ's base: a hit
    assert len(list((tmp_path / "cache" / "amc-base").iterdir())) == 1
    fresh = _cli("amc", amc, tmp_path / "amc-cold", cache=tmp_path / "cache-fresh", hash_seed=4)
    _assert_same(warm, fresh)


def test_the_base_network_key_holds_every_setting_that_shapes_its_weights():
    t = techniques.get("amc")
    cfg = t.parse(t.smoke)
    key = base_network_key(cfg, "digits")
    for change in ({"val_images": 150}, {"train_limit": 300}, {"seed": 1}, {"lr": 0.02}, {"batch_size": 16},
                   {"base_epochs": 2}, {"base_width": 0.5}, {"resolution": 16}):
        assert base_network_key(t.parse({**t.smoke, **change}), "digits") != key, change
    # what does not shape them shares it (HAQ's base network is AMC's)
    assert base_network_key(t.parse({**t.smoke, "episodes": 4, "bn_images": 32}), "digits") == key
    assert base_network_key(techniques.get("haq").parse(techniques.get("haq").smoke), "digits") == key
    with fixed_threads(2 if torch.get_num_threads() == 1 else 1):  # the order of float sums
        assert base_network_key(cfg, "digits") != key
    assert numerics_key()["torch"] == torch.__version__


def _draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_deterministic_seeds_every_global_generator_and_restores_them():
    torch.manual_seed(123)
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic(7):
        first = _draws()
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    assert random.getstate() == before[0] and (np.random.get_state()[1] == before[1]).all()
    assert torch.equal(torch.get_rng_state(), before[2])
    with deterministic(7):
        assert _draws() == first
    with deterministic(8):
        assert _draws() != first


def test_every_registered_run_is_seeded_from_its_config():
    haq = techniques.get("haq")
    assert haq.run.__wrapped__ is run_haq and seeded_run(haq.run) is haq.run  # wrapped once
    seen = []

    def run(config, hardware, reporter):
        seen.append(_draws())
        return None

    class Cfg:
        seed = 5

    class NoSeed:
        pass

    wrapped = seeded_run(run)
    wrapped(Cfg(), None, None)
    wrapped(Cfg(), None, None)
    wrapped(NoSeed(), None, None)
    assert seen[0] == seen[1] != seen[2]
    with deterministic(5):
        assert _draws() == seen[0]
    with deterministic(0):
        assert _draws() == seen[2]
