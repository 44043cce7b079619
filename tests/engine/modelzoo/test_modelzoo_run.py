"""The model-zoo technique: config rules, measured metrics, artifacts, training, cancel."""
from __future__ import annotations

import json

import pytest
import torch

from engine import Cancelled, ConfigError, MemoryReporter, techniques
from engine.hardware import get_profile, profile_model
from engine.modelzoo import Config, plan
from engine.modelzoo.benchmark import load_training_data
from engine.modelzoo.zoo import build_model

FAST = {"train_epochs": 0, "latency_repeats": 2, "latency_warmup": 0, "resolutions": [32]}


def test_defaults_are_valid_and_photos_is_not_a_choice():
    Config.from_dict({})
    assert "dataset" in _errors({"dataset": "photos"})  # one image per class: nothing to split


def _errors(d):
    with pytest.raises(ConfigError) as e:
        Config.from_dict(d)
    return e.value.errors


def test_bounds_and_cross_field_rules():
    assert set(_errors({"resolutions": [31], "widths": [0.1], "train_epochs": 51, "models": ["vgg"]})) == {
        "resolutions", "widths", "train_epochs", "models"}
    assert "resolutions" in _errors({"resolutions": [513]})
    err = _errors({"models": ["resnet18", "squeezenet1_1"], "widths": [0.5]})
    assert set(err) == {"widths"} and "resnet18" in err["widths"]
    assert set(_errors({"latency_clock": "thread", "threads": 2})) == {"latency_clock"}


def test_plan_skips_combinations_a_family_lacks():
    cfg = Config.from_dict({"models": ["resnet18", "shufflenet_v2", "mobilenet_v2"], "widths": [0.75, 1.0],
                            "resolutions": [32, 64]})
    todo, skipped = plan(cfg)
    assert skipped == [("resnet18", 0.75), ("shufflenet_v2", 0.75)]
    assert {(c.model, c.width) for c in todo} == {("resnet18", 1.0), ("shufflenet_v2", 1.0),
                                                  ("mobilenet_v2", 0.75), ("mobilenet_v2", 1.0)}
    assert len(todo) == 8


def test_untrained_run_reports_cost_model_and_measured_latency(tmp_path):
    t = techniques.get("model-zoo")
    cfg = t.parse({**FAST, "models": ["squeezenet1_1", "shufflenet_v2"], "widths": [0.5, 1.0]})
    rep = MemoryReporter(tmp_path)
    summary = t.run(cfg, get_profile("raspberry-pi-4"), rep)
    assert [a for a, _ in rep.candidates] == [
        {"model": "squeezenet1_1", "width": 1.0, "resolution": 32},
        {"model": "shufflenet_v2", "width": 0.5, "resolution": 32},
        {"model": "shufflenet_v2", "width": 1.0, "resolution": 32}]
    for (arch, m), art in zip(rep.candidates, rep.artifacts):
        cost = profile_model(build_model(arch["model"], width=arch["width"], num_classes=10),
                             (torch.zeros(1, 3, 32, 32),))
        assert (m["params"], m["macs"], m["peak_memory_bytes"]) == (cost.params, cost.macs, cost.peak_activation_bytes)
        assert m["latency_ms"] > 0 and m["latency_source"] == "roofline"  # the Pi is not this machine
        assert m["latency_profile"] == "raspberry-pi-4"
        assert "accuracy" not in m and m["fits_memory"] is True
        kind, path, _, group, index = art
        table = json.loads(path.read_text())
        assert kind == "json" and group == "layers" and rep.candidates[index][0] == arch
        assert sum(r["macs"] for r in table["layers"]) == m["macs"]
        assert sum(r["params"] for r in table["layers"]) == m["params"]
    assert summary.metrics["skipped"] == 1 and "raspberry-pi-4: roofline" in summary.message
    narrow, wide = rep.candidates[1][1], rep.candidates[2][1]
    assert wide["macs"] > narrow["macs"] and wide["latency_ms"] > narrow["latency_ms"]
    names = {k for _, m in rep.candidates for k in m}
    assert t.objectives_for(names) == {"latency_ms": "min", "params": "min"}
    assert t.axes_for(names) == ("latency_ms", "params")


def test_latency_is_measured_on_this_machine(tmp_path):
    t = techniques.get("model-zoo")
    rep = MemoryReporter(tmp_path)
    t.run(t.parse({**t.smoke, "latency_repeats": 3}), get_profile("local-cpu"), rep)
    m = rep.candidates[0][1]
    assert m["latency_source"] == "measured" and m["latency_profile"] == "local-cpu"
    assert m["latency_ms"] > 0 and m["latency_spread_ms"] >= 0 and m["latency_threads"] == 1


def test_training_gives_accuracy_and_curves(tmp_path):
    t = techniques.get("model-zoo")
    cfg = t.parse({"models": ["mobilenet_v3_small"], "widths": [0.5], "dataset": "digits", "train_epochs": 2,
                   "max_train_samples": 256, "batch_size": 32, "latency_repeats": 1, "latency_warmup": 0})
    rep = MemoryReporter(tmp_path)
    t.run(cfg, get_profile("local-cpu"), rep)
    (_, m), = rep.candidates
    assert m["train_samples"] == 256 and m["val_samples"] == 200 and m["train_epochs"] == 2
    assert 0.25 < m["accuracy"] <= 1.0  # 10 classes: well above chance after 16 steps
    key = "mobilenet_v3_small-w0.5-r32"
    curves = {n for n, _, _ in rep.points}
    assert curves == {f"loss/{key}", f"val_accuracy/{key}"}
    val = [(s, v) for n, s, v in rep.points if n == f"val_accuracy/{key}"]
    assert [s for s, _ in val] == [1.0, 2.0] and val[-1][1] == m["accuracy"]
    assert t.objectives_for(m) == {"latency_ms": "min", "accuracy": "max"}


def test_training_data_split_is_bounded_and_stratified():
    tr, va = load_training_data("digits", max_train_samples=300, seed=0)
    assert len(tr.y) == 300 and len(va.y) == 200
    assert set(tr.y.tolist()) == set(va.y.tolist()) == set(range(10))


def test_cancel_mid_run_keeps_earlier_candidates(tmp_path):
    t = techniques.get("model-zoo")
    cfg = t.parse({**FAST, "models": ["squeezenet1_1", "shufflenet_v2"], "widths": [1.0]})
    rep = MemoryReporter(tmp_path, cancel_after=6)
    with pytest.raises(Cancelled):
        t.run(cfg, get_profile("local-cpu"), rep)
    assert len(rep.candidates) == 1
