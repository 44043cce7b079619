"""The four latency sources behind one interface."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engine.hardware import (LookupTable, LookupTableLatency, LutError, LutMissError, PredictorLatency,
                             RooflineLatency, build_lut, builtin_profiles, get_profile, import_ofa_yaml, latency_for,
                             load_lut, local_cpu_profile, measure_many, train_predictor, validate_lut_json,
                             validate_predictor_json)
from engine.hardware.latency.predictor import LatencyPredictor
from engine.ranking import kendall_tau, latency_errors
from engine.hardware.lut import LutEntry
from engine.problems import ImageClassification
from engine.spaces import MBConvSpace

SMALL = dict(widths=(8, 16), strides=(2, 2), resolutions=(16, 24), stem_width=8, head_width=32, depths=(1, 2))
IMAGES = ImageClassification()


@pytest.fixture(scope="module")
def space():
    return MBConvSpace(**SMALL)


def _fake_table(space, ms_of=lambda op: 0.1 + op.attrs["kernel"] * 0.01):
    entries = {op.key: LutEntry(mean=ms_of(op), std=0.01, count=5, median=ms_of(op)) for op in space.all_ops(IMAGES)}
    return LookupTable(entries, {"space": space.name, "space_params": space.params(), "num_classes": 10})


def test_roofline_monotone_in_macs_and_bits():
    prof = get_profile("bitfusion")
    roof = RooflineLatency(prof)
    x16 = (torch.zeros(1, 16, 16, 16),)
    small = roof.estimate(nn.Conv2d(16, 16, 3, padding=1), x16).ms
    big = roof.estimate(nn.Conv2d(16, 64, 3, padding=1), x16).ms
    assert big > small
    model, shape = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()), (torch.zeros(1, 64, 32, 32),)
    ms = [roof.estimate(model, shape, bits=(b, b)).ms for b in (2, 4, 8, 16)]
    assert ms == sorted(ms) and ms[0] < ms[-1]
    # non-bit-flexible hardware: int8 no slower than fp32
    pi = RooflineLatency(get_profile("raspberry-pi-4"))
    assert pi.estimate(model, shape, bits=(8, 8)).ms <= pi.estimate(model, shape).ms
    e = roof.estimate(model, shape)
    assert e.source == "roofline" and e.as_metrics()["latency_source"] == "roofline"


def test_roofline_flags_mcu_memory(space):
    mcu = get_profile("stm32f746")
    big = nn.Sequential(nn.Conv2d(3, 256, 3, padding=1), nn.Conv2d(256, 256, 3, padding=1))
    e = RooflineLatency(mcu).estimate(big, ImageClassification(size=64).example_inputs())
    assert e.detail["fits_memory"] is False and "exceed" in e.detail["fit_reason"]


def test_lut_sums_entries_and_misses_clearly(space):
    table = _fake_table(space)
    est = LookupTableLatency(table, space)
    arch = space.sample(np.random.default_rng(0))
    keys = space.op_keys(arch, IMAGES)
    assert est.estimate(arch).ms == pytest.approx(sum(table.entries[k].mean for k in keys))
    assert table.covers(space)
    table.entries.pop(keys[2])
    table._ms = None
    with pytest.raises(LutMissError, match="no entry"):
        LookupTableLatency(table, space).estimate(arch)


def test_lut_calibration_recovers_scale(space):
    table = _fake_table(space)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(10)]
    raw = LookupTableLatency(table, space).estimate_ms_many(archs)
    scale, offset = table.calibrate(space, archs, 1.5 * raw + 0.2)
    assert scale == pytest.approx(1.5, rel=1e-6) and offset == pytest.approx(0.2, abs=1e-6)
    assert LookupTableLatency(table, space).estimate_ms_many(archs) == pytest.approx(1.5 * raw + 0.2)


def test_lut_json_round_trip_and_ofa_yaml(space, tmp_path):
    table = _fake_table(space)
    again = validate_lut_json(json.dumps(table.to_json()))
    assert again.entries == table.entries and again.meta["space"] == "mbconv"
    path = table.save(tmp_path / "t.json")
    assert load_lut(path).entries == table.entries
    yaml_text = "\n".join(f"{k}:\n  count: 5\n  mean: {e.mean}\n  std: 0.01" for k, e in table.entries.items())
    imported = import_ofa_yaml(yaml_text, device="pixel-1")
    assert imported.meta["device"] == "pixel-1" and imported.covers(space)


@pytest.mark.parametrize("doc, message", [
    (b"{not json", "not valid JSON"),
    ([1, 2], "JSON object"),
    ({"entries": {}}, "non-empty"),
    ({"entries": {"Conv-input:8x8x3-output:8x8x8": {"mean": -1}}}, "mean: must be a number"),
    ({"entries": {"bad key with spaces": {"mean": 1}}}, "is not an op key"),
    ({"entries": {"Conv-input:8x8x3-output:8x8x8": {"mean": 1, "count": 0}}}, "count: must be a whole number"),
    ({"format": "other", "entries": {"Conv-input:8x8x3-output:8x8x8": {"mean": 1}}}, "format"),
    ({"entries": {"Conv-input:8x8x3-output:8x8x8": {"mean": 1}}, "meta": {"threads": "four"}}, "meta.threads"),
    ({"entries": {"Conv-input:8x8x3-output:8x8x8": {"mean": 1}}, "samples": [{"arch": {}, "ms": "x"}]}, "samples[0].ms"),
    ({"hello": "world"}, "expected an object with 'entries'"),
])
def test_lut_validator_rejects_bad_json_with_clear_messages(doc, message):
    data = doc if isinstance(doc, bytes) else json.dumps(doc)
    with pytest.raises(LutError) as e:
        validate_lut_json(data)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_lut_validator_size_limit():
    with pytest.raises(LutError, match="at most"):
        validate_lut_json(b" " * 100, max_bytes=10)


def test_predictor_learns_and_round_trips(space, tmp_path):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(120)]
    # a latency that depends on resolution and per-slot choices, like a real one
    def truth(a):
        return (a["resolution"] / 16) ** 2 * (1 + sum(k * e for k, e, s in zip(a["kernels"], a["expands"],
                range(space.n_slots)) if s % space.max_depth < a["depths"][s // space.max_depth]) / 50)
    y = np.array([truth(a) for a in archs])
    pred = train_predictor(space, archs[:90], y[:90], hidden=(32, 32), epochs=80, seed=0)
    p = PredictorLatency(pred, space).estimate_ms_many(archs[90:])
    err = latency_errors(p, y[90:])
    assert err["mape"] < 0.1 and err["kendall_tau"] > 0.8
    for path in (tmp_path / "p.json", tmp_path / "p.safetensors"):
        again = LatencyPredictor.load(pred.save(path))
        assert np.allclose(again.predict_ms(space.encode_many(archs[90:])), p)
    doc = pred.to_json()
    doc["weights"]["net.0.weight"] = [[1.0]]
    with pytest.raises(ValueError, match="weights"):
        validate_predictor_json(json.dumps(doc))


def test_estimator_selection_order(space):
    table = _fake_table(space)
    pi, local = get_profile("raspberry-pi-4"), local_cpu_profile()
    final = dict(problem=IMAGES, purpose="final")
    assert latency_for(local, space=space, **final).source == "measured"
    assert latency_for(pi, space=space, **final).source == "roofline"
    assert latency_for(pi, space=space, lut=table, **final).source == "lut"
    pred = LatencyPredictor(space.encoding_size, (8,), space=space.name, space_params=space.params())
    assert latency_for(pi, space=space, predictor=pred, **final).source == "predictor"
    assert latency_for(local, space=space, problem=IMAGES, lut=table, purpose="search").source == "lut"
    other = MBConvSpace(**{**SMALL, "widths": (8, 24)})
    assert latency_for(pi, space=other, lut=table, predictor=pred, **final).source == "roofline"


def test_every_profile_gives_a_latency_for_mbconv_candidates(space):
    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(3)]
    for prof in builtin_profiles():
        if prof.measurable:
            continue  # measured: covered by test_measured_and_lut_on_this_cpu
        est = latency_for(prof, space=space, problem=IMAGES)
        ms = est.estimate_ms_many(archs)
        assert np.all(ms > 0) and est.source == "roofline"
        model = space.build(archs[0], IMAGES)
        e = latency_for(prof, problem=IMAGES, purpose="final").estimate(model, space.example_inputs(archs[0], IMAGES))
        assert e.ms > 0 and e.source == "roofline"


def test_measured_and_lut_on_this_cpu(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(2)]
    ops = [op for a in archs for op in space.ops(a, IMAGES)]
    table = build_lut(space, IMAGES, ops=ops, archs=archs, warmup=0, repeats=2, rounds=2, clock="thread")
    assert len(table.samples) == 2 and all(s["ms"] > 0 for s in table.samples)
    assert table.meta["threads"] == 1 and table.meta["protocol"]["clock"] == "thread"
    assert all(e.count == 2 for e in table.entries.values())
    final = latency_for(local_cpu_profile(), problem=IMAGES, purpose="final", measure={"repeats": 2, "warmup": 0})
    e = final.estimate(space.build(archs[0], IMAGES), space.example_inputs(archs[0], IMAGES))
    assert e.source == "measured" and e.ms > 0 and e.spread_ms is not None
    with pytest.raises(ValueError, match="threads=1"):
        measure_many([(nn.Identity(), (torch.zeros(1, 1),))], threads=2, clock="thread")


def test_kendall_tau_known_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert torch.is_tensor(torch.zeros(1))


def test_predictor_distilled_from_lut_beats_few_measured_samples(space, tmp_path):
    """With only 12 measured networks, distilling the (biased) table and
    fine-tuning recovers the networks' latency far better than the 12 alone;
    the result is a plain predictor (same JSON, no table needed to score)."""
    table = _fake_table(space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(112)]
    lut_sum = LookupTableLatency(table, space, calibrated=False).estimate_ms_many(archs)
    y = 1.3 * lut_sum + 0.2  # the device: the isolated-op sum scaled, plus fixed overhead
    few = dict(hidden=(32, 32), epochs=60, seed=0)
    plain = train_predictor(space, archs[:12], y[:12], **few)
    distilled = train_predictor(space, archs[:12], y[:12], lut=table, lut_samples=2000, lut_epochs=20, **few)
    e_plain = latency_errors(PredictorLatency(plain, space).estimate_ms_many(archs[12:]), y[12:])
    e_dist = latency_errors(PredictorLatency(distilled, space).estimate_ms_many(archs[12:]), y[12:])
    assert e_dist["mape"] < 0.03 and e_dist["kendall_tau"] > 0.85
    assert e_dist["mape"] < e_plain["mape"] / 2
    assert distilled.meta["distilled_from_lut"] == 2000
    scale, offset = distilled.meta["lut_calibration"]
    assert scale == pytest.approx(1.3, rel=1e-6) and offset == pytest.approx(0.2, abs=1e-6)
    again = validate_predictor_json(json.dumps(distilled.to_json()))
    assert np.allclose(again.predict_ms(space.encode_many(archs[12:])),
                       distilled.predict_ms(space.encode_many(archs[12:])))
    partial = LookupTable(dict(list(table.entries.items())[:3]), dict(table.meta))
    with pytest.raises(ValueError, match="does not cover"):
        train_predictor(space, archs[:12], y[:12], lut=partial, **few)


def test_lut_calibration_fits_scale_per_op_cost_and_offset(space):
    """The device's networks cost 1.2 x the isolated ops plus 0.05 ms per op plus
    0.3 ms: the fit recovers all three; old tables (scale and offset only) still load."""
    table = _fake_table(space)
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(30)]
    keys = [space.op_keys(a, IMAGES) for a in archs]
    y = np.array([1.2 * table.latency_ms(k) + 0.05 * len(k) + 0.3 for k in keys])
    scale, offset = table.calibrate(space, archs, y)
    assert scale == pytest.approx(1.2, rel=1e-6) and offset == pytest.approx(0.3, abs=1e-6)
    assert table.per_op_ms == pytest.approx(0.05, abs=1e-6)
    assert np.allclose(LookupTableLatency(table, space).estimate_ms_many(archs), y)
    assert LookupTableLatency(table, space).estimate_arch(archs[0]).ms == pytest.approx(y[0])
    again = validate_lut_json(json.dumps(table.to_json()))
    assert np.allclose(LookupTableLatency(again, space).estimate_ms_many(archs), y)
    old = dict(table.meta, calibration={"scale": 1.2, "offset": 0.3})
    legacy = LookupTable(table.entries, old)
    assert legacy.per_op_ms == 0.0
    assert LookupTableLatency(legacy, space).estimate_ms_many(archs[:1])[0] == \
        pytest.approx(1.2 * table.latency_ms(keys[0]) + 0.3)
    # too few networks for three parameters: scale and offset only
    table.calibrate(space, archs[:5], y[:5])
    assert table.per_op_ms == 0.0


def test_roofline_batch_path_equals_per_architecture_estimates(space):
    est = RooflineLatency(get_profile("raspberry-pi-4"), space, IMAGES)
    archs = [space.sample(np.random.default_rng(s)) for s in range(6)]
    fast = est.estimate_ms_many(archs)
    slow = np.array([est.estimate_arch(a).ms for a in archs])
    assert fast.shape == (6,) and np.allclose(fast, slow, rtol=0, atol=1e-12)
    assert len(set(np.round(fast, 9))) > 1  # the architectures differ, and so do their sums
