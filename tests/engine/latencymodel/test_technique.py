"""The latency-model technique end to end on its smoke config."""
from __future__ import annotations

import json

from engine import MemoryReporter, techniques
from engine.hardware import get_profile, validate_lut_json, validate_predictor_json


def test_smoke_reports_every_source(tmp_path):
    t = techniques.get("latency-model")
    rep = MemoryReporter(tmp_path)
    summary = t.run(t.parse(t.smoke), get_profile("raspberry-pi-4"), rep)
    assert rep.candidates
    for arch, m in rep.candidates:
        assert m["latency_source"] == "measured" and m["latency_ms"] == m["measured_ms"] > 0
        assert m["lut_ms"] > 0 and m["predictor_ms"] > 0 and m["roofline_ms"] > 0
    for src in ("lut", "predictor", "roofline"):
        for k in ("mape", "rmse_ms", "kendall_tau"):
            assert f"{src}_{k}" in summary.metrics
    groups = {a[3] for a in rep.artifacts}
    assert groups == {"latency-model"}
    paths = {p.name: p for _, p, *_ in rep.artifacts}
    validate_lut_json(paths["latency-lut.json"].read_bytes())
    validate_predictor_json(paths["latency-predictor.json"].read_bytes())
    errors = json.loads(paths["latency-errors.json"].read_text())
    assert set(errors["errors"]) >= {"lut", "predictor", "roofline"}
