import json

import pytest
import torch

from engine.config import ConfigError
from engine.data import parse_classes
from engine.hardware import get_profile
from engine.registry import techniques
from engine.reporter import Cancelled, MemoryReporter
from engine.tinytl.mobilenet import TINY_SETTINGS, MobileNetArch, build_mobilenet
from engine.tinytl.pretrain import SourceTask, WeightsError, load_weights, pretrained, save_weights

TINY = MobileNetArch(width_mult=0.25, settings=TINY_SETTINGS[:2], last_channels=32, num_classes=3)


def test_parse_classes():
    assert parse_classes("all") is None
    assert parse_classes("0-2, 5,7-8") == [0, 1, 2, 5, 7, 8]
    for bad in ("x", "3", "4-2"):
        with pytest.raises(ValueError):
            parse_classes(bad)
    with pytest.raises(ValueError):
        parse_classes("8-12", 10)


def test_safetensors_roundtrip_and_validation(tmp_path):
    m = build_mobilenet(TINY, seed=1)
    path = save_weights(m, tmp_path / "w.safetensors")
    m2, meta = load_weights(path)
    assert json.loads(meta["arch"])["width_mult"] == 0.25
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    (tmp_path / "w.pt").write_bytes(b"not safetensors")
    with pytest.raises(WeightsError):
        load_weights(tmp_path / "w.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError):
        load_weights(tmp_path / "bad.safetensors")
    other = MobileNetArch(width_mult=0.5, settings=TINY_SETTINGS[:2], last_channels=32, num_classes=3)
    from safetensors.torch import save_file
    save_file(build_mobilenet(other).state_dict(), str(tmp_path / "nometa.safetensors"))
    with pytest.raises(WeightsError, match="does not match"):
        load_weights(tmp_path / "nometa.safetensors", TINY)


def test_pretrained_is_cached(cache):
    task = SourceTask(dataset="digits", classes="0-2", resolution=16, epochs=1, train_limit=60)
    m1, info1 = pretrained(TINY, task)
    m2, info2 = pretrained(TINY, task)
    assert not info1["cached"] and info2["cached"] and info1["path"] == info2["path"]
    assert info1["path"].startswith(str(cache)) and info1["path"].endswith(".safetensors")
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert m1.classifier.out_features == 3


def test_config_checks(tmp_path):
    t = techniques.get("tinytl")
    with pytest.raises(ConfigError) as e:
        t.parse({"source_classes": "0-5", "target_classes": "5-9"})
    assert "target_classes" in e.value.errors
    with pytest.raises(ConfigError) as e:
        t.parse({"weights_path": str(tmp_path / "weights.pt")})
    assert "weights_path" in e.value.errors
    with pytest.raises(ConfigError):
        t.parse({"methods": ["ft-full", "nope"]})
    assert t.parse({"source_dataset": "digits", "target_dataset": "mnist-5k", "target_classes": "all"})


def test_smoke_run_reports_everything(cache):
    t = techniques.get("tinytl")
    cfg = t.parse(t.smoke)
    rep = MemoryReporter()
    summary = t.run(cfg, get_profile("raspberry-pi-4"), rep)
    methods = [a["method"] for a, _ in rep.candidates]
    assert methods == list(cfg.methods)
    for _, m in rep.candidates:
        assert 0.0 <= m["accuracy"] <= 1.0
        assert m["training_memory_bytes_measured"] == (m["activation_bytes_measured"] + m["param_bytes_measured"]
                                                       + m["grad_bytes_measured"] + m["optimizer_bytes_measured"])
        assert m["training_memory_bytes_analytic"] > 0 and isinstance(m["fits_device"], bool)
    by = {a["method"]: m for a, m in rep.candidates}
    assert by["ft-full"]["training_memory_bytes_measured"] > by["tinytl-lb"]["training_memory_bytes_measured"]
    names = {n for n, _, _ in rep.points}
    assert {"val_accuracy/ft-full", "loss/tinytl-lb"} <= names
    assert len(rep.artifacts) == 1
    kind, path, group = rep.artifacts[0][0], rep.artifacts[0][1], rep.artifacts[0][3]
    assert kind == "json" and group == "memory"
    doc = json.loads(path.read_text())
    assert set(doc["methods"]) == set(cfg.methods)
    assert summary.metrics["memory_reduction_measured"] > 1
    # feature extractor adaptation: a sub-net picked within the budget, then trained with TinyTL-L+B
    fa = by["tinytl-lb-fa"]
    assert fa["fa_subnets_scored"] == cfg.fa_subnets and 0.0 <= fa["fa_score"] <= 1.0 and fa["subnet"]
    trials = doc["feature_extractor_adaptation"]["selection"]["trials"]
    budget = doc["feature_extractor_adaptation"]["backbone_memory_bytes"]  # the default budget: TinyTL-L+B's count
    assert fa["fa_budget_bytes"] == budget and len(trials) == cfg.fa_subnets
    assert all(tr["memory_bytes"] <= budget for tr in trials)
    assert fa["training_memory_bytes_analytic"] == pytest.approx(
        doc["feature_extractor_adaptation"]["selection"]["best"]["memory_bytes"])
    assert summary.metrics["memory_reduction_fa_measured"] > 1 and summary.metrics["memory_reduction_fa_analytic"] > 1
    assert {"val_accuracy/tinytl-lb-fa", "FA: best held-out score by sub-nets scored/evolution"} <= names


def test_mcu_profile_flags_methods(cache):
    from types import SimpleNamespace
    t = techniques.get("tinytl")
    cfg = t.parse({**t.smoke, "methods": ["ft-full", "ft-last"]})
    mcu = SimpleNamespace(name="tiny-mcu", kind="mcu", memory_capacity_mb=0.25, onchip_memory_kb=256, storage_mb=1.0)
    rep = MemoryReporter()
    t.run(cfg, mcu, rep)
    by = {a["method"]: m for a, m in rep.candidates}
    assert by["ft-last"]["fits_device"] and not by["ft-full"]["fits_device"]


def test_cancel_propagates(cache):
    t = techniques.get("tinytl")
    with pytest.raises(Cancelled):
        t.run(t.parse(t.smoke), get_profile("raspberry-pi-4"), MemoryReporter(cancel_after=3))


def test_target_split_tests_on_the_unused_training_images():
    from engine.data import ImageData
    from engine.tinytl.technique import Config, _split_target, method_lr

    x = torch.arange(20, dtype=torch.float32).view(20, 1, 1, 1)
    train = ImageData("t", x, torch.arange(20) % 2, ["a", "b"], "test")
    val = ImageData("t", -x[:5] - 1, torch.zeros(5, dtype=torch.long), ["a", "b"], "test")
    tr, va = _split_target(train, val, 8, seed=3, test_unused=True)
    assert len(tr.y) == 8 and len(va.y) == 5 + 12
    used = set(tr.x.flatten().tolist())
    assert used.isdisjoint(va.x.flatten().tolist())  # never tested on a training image
    assert used | set(va.x.flatten().tolist()) >= set(x.flatten().tolist())
    assert torch.equal(tr.x, train.limit(8, seed=3).x)  # the same pick as before
    tr2, va2 = _split_target(train, val, 8, seed=3, test_unused=False)
    assert len(va2.y) == 5 and torch.equal(tr2.x, tr.x)
    cfg = Config(lr=1e-3, lr_frozen=3e-2)
    assert method_lr(cfg, "ft-full") == 1e-3 and method_lr(cfg, "tinytl-lb") == 3e-2
