"""A latency predictor saved before the shared MLP regressor (same JSON) still loads and predicts the same."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.hardware import LatencyPredictor, PredictorError, validate_predictor_json


def old_document() -> dict:
    """What the former LatencyPredictor.to_json wrote: layer weights only, target statistics in the header."""
    rng = np.random.default_rng(0)
    w0, b0 = rng.normal(size=(3, 4)), rng.normal(size=3)
    w1, b1 = rng.normal(size=(1, 3)), rng.normal(size=1)
    return {"format": "frontier-latency-predictor", "version": 1, "encoding_size": 4, "hidden": [3], "space": "mbconv",
            "space_params": {}, "target": "log(ms)", "target_mean": 0.5, "target_std": 0.25, "meta": {"samples": 4},
            "weights": {"net.0.weight": w0.tolist(), "net.0.bias": b0.tolist(), "net.2.weight": w1.tolist(),
                        "net.2.bias": b1.tolist()}}


def test_an_old_document_loads_predicts_and_is_written_back_the_same(tmp_path):
    doc = old_document()
    p = validate_predictor_json(json.dumps(doc))
    x = np.eye(4, dtype=np.float32)
    w = doc["weights"]
    z = np.maximum(x @ np.array(w["net.0.weight"]).T + w["net.0.bias"], 0) @ np.array(w["net.2.weight"]).T
    want = np.exp((z[:, 0] + w["net.2.bias"][0]) * 0.25 + 0.5)
    assert np.allclose(p.predict_ms(x), want, rtol=1e-5)
    again = p.to_json()
    assert set(again) == set(doc) and set(again["weights"]) == set(doc["weights"])
    assert again["target_mean"] == 0.5 and again["target_std"] == 0.25
    assert np.allclose(LatencyPredictor.load(p.save(tmp_path / "p.safetensors")).predict_ms(x), want, rtol=1e-5)


def test_target_statistics_in_the_weights_are_refused():
    doc = old_document()
    doc["weights"]["target_mean"] = 0.5
    with pytest.raises(PredictorError, match="weights"):
        validate_predictor_json(doc)
    assert math.isfinite(validate_predictor_json(old_document()).predict_ms(np.zeros((1, 4)))[0])
