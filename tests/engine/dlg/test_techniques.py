import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.config import ConfigError
from engine.data import ImageData
from engine.registry import get_technique
from engine.reporter import Cancelled, MemoryReporter
from engine.dlg.sweep import stopping_strength
from engine.dlg.victims import build_victim, train_victim


def test_engine_stays_a_plain_library():
    # in a fresh interpreter: pytest-django may already have imported django here
    code = "import sys, engine.dlg; bad = [m for m in ('django', 'celery', 'webapp', 'plotly') if m in sys.modules]; " \
           "sys.exit(', '.join(bad) or None)"
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_attack_smoke_reports_everything_the_page_shows(tmp_path):
    t = get_technique("dlg")
    cfg = t.parse(dict(t.smoke, batch_size=2, image_size=16))
    rep = MemoryReporter(tmp_path)
    summary = t.run(cfg, None, rep)
    assert len(rep.candidates) == 2
    arch, metrics = rep.candidates[0]
    assert arch["image"] == "astronaut" and arch["method"] == "dlg" and arch["index"] == 0
    for key in ("mse", "psnr", "ssim", "iterations", "label_correct", "wall_s"):
        assert key in metrics
    groups = {}
    for kind, path, caption, group, cand in rep.artifacts:
        groups.setdefault(group, []).append((kind, path, caption))
        assert (cand is not None) == (group == "reconstructions")
    assert [k for k, _, _ in groups["reconstructions"]] == ["png", "png"]
    assert groups["snapshots"][0][2].startswith("iteration ")
    kind, mp4, _ = groups["evolution"][0]
    assert kind == "mp4" and mp4.read_bytes()[4:8] == b"ftyp"
    record = json.loads(groups["metrics"][0][1].read_text())
    assert len(record["images"]) == 2 and len(record["gradient_loss"]) == summary.metrics["iterations"]
    names = {p[0] for p in rep.points}
    assert names == {"gradient_loss", "mse"}
    assert rep.progresses[-1][0] == 1.0


def test_attack_cancels():
    t = get_technique("dlg")
    with pytest.raises(Cancelled):
        t.run(t.parse(dict(t.smoke, steps=50)), None, MemoryReporter(cancel_after=3))


def test_sweep_smoke_gives_candidates_series_and_stops(tmp_path):
    t = get_technique("dlg-defences")
    cfg = t.parse(dict(t.smoke, image_size=16))
    rep = MemoryReporter(tmp_path)
    summary = t.run(cfg, None, rep)
    archs = [a for a, _ in rep.candidates]
    assert archs[0]["defence"] == "none"
    assert {(a["defence"], a["strength"]) for a in archs[1:]} == {("prune", 0.5), ("quantize", 8.0)}
    for _, m in rep.candidates:
        assert {"mse", "psnr", "ssim", "leaked"} <= set(m)
    assert {p[0] for p in rep.points} >= {"prune/psnr", "quantize/psnr"}
    groups = [(a[3], a[4]) for a in rep.artifacts]
    assert groups.count(("reconstructions", 1)) == 1 and ("defences", None) in groups
    assert "prune_stops_at" in summary.metrics and "quantize_stops_at" in summary.metrics
    assert t.objectives == {"accuracy": "max", "psnr": "min"} and t.axes == ("psnr", "accuracy")


def test_config_validation():
    t = get_technique("dlg")
    with pytest.raises(ConfigError) as e:
        t.parse({"image_file": "upload.gif", "defence": "prune", "defence_strength": 3.0, "batch_size": 9})
    assert set(e.value.errors) == {"batch_size"}  # field bounds first
    with pytest.raises(ConfigError) as e:
        t.parse({"image_file": "upload.gif", "defence": "quantize", "defence_strength": 12})
    assert set(e.value.errors) == {"image_file", "defence_strength"}
    s = get_technique("dlg-defences")
    with pytest.raises(ConfigError) as e:
        s.parse({"quantize_bits": [16, 12]})
    assert "quantize_bits" in e.value.errors


def test_stopping_strength_is_the_weakest_level_from_which_nothing_leaks():
    assert stopping_strength("prune", [(0.1, True), (0.2, False), (0.3, True), (0.5, False), (0.7, False)]) == 0.5
    assert stopping_strength("quantize", [(16, True), (8, True), (4, False), (2, False)]) == 4
    assert stopping_strength("gaussian", [(1e-3, True), (1e-2, True)]) is None


def test_training_with_a_defence_goes_through_fit():
    g = torch.Generator().manual_seed(0)
    data = ImageData("toy", torch.rand(64, 1, 16, 16, generator=g), torch.randint(0, 10, (64,), generator=g),
                     [str(i) for i in range(10)], "random")
    model = build_victim("lenet", in_channels=1, num_classes=10, image_size=16, generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    acc = train_victim(model, data, data, epochs=1, batch_size=16, defence="prune", strength=1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # every gradient pruned away
    assert 0.0 <= acc <= 1.0
    train_victim(model, data, None, epochs=1, batch_size=16, defence="quantize", strength=8)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())  # hooks removed


def test_the_leak_criterion_is_stated_on_the_page_and_in_the_summary(tmp_path):
    t = get_technique("dlg")
    assert "PSNR >= 25 dB and SSIM >= 0.8" in t.summary
    assert "PSNR >= 25 dB and SSIM >= 0.8" in get_technique("dlg-defences").summary
    cfg = t.parse(dict(t.smoke, image_size=16, leak_psnr=30, leak_ssim=0.9))
    summary = t.run(cfg, None, MemoryReporter(tmp_path))
    assert "PSNR >= 30 dB and SSIM >= 0.9" in summary.message
    assert {"stalled", "fallback_steps", "restarts_run"} <= set(summary.metrics)


def test_sweep_reports_noise_relative_to_the_gradient_and_batch_as_a_defence(tmp_path):
    from engine.dlg.attacks import shared_gradients
    from engine.dlg.defences import gradient_mean_square
    t = get_technique("dlg-defences")
    cfg = t.parse(dict(t.smoke, image_size=16, defences=["gaussian", "batch"], noise_levels=[1e-4, 10.0],
                       batch_levels=[1, 2]))
    rep = MemoryReporter(tmp_path)
    summary = t.run(cfg, None, rep)
    rows = {(a["defence"], a["strength"]): m for a, m in rep.candidates}
    assert {("batch", 1.0), ("batch", 2.0)} <= set(rows) and rows[("batch", 2.0)]["batch_size"] == 2
    ms = rows[("none", 0.0)]["gradient_mean_square"]
    images, model, _ = cfg.load(MemoryReporter(tmp_path))
    x, y = images.x[:1], images.y[:1]
    assert ms == pytest.approx(gradient_mean_square(shared_gradients(model, x, y)))
    for s in (1e-4, 10.0):
        assert rows[("gaussian", s)]["noise_variance_relative"] == pytest.approx(s / ms)
    assert summary.metrics["gradient_mean_square"] == pytest.approx(ms)
    if summary.metrics["gaussian_stops_at"] is not None:
        assert summary.metrics["gaussian_stops_at_relative"] == pytest.approx(summary.metrics["gaussian_stops_at"] / ms)
