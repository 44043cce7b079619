"""Reporter contract: cancellation, clamping, metric cleaning, artifacts."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.reporter import Cancelled, MemoryReporter, Reporter, clean_metrics


def test_cancel_after_n_calls_raises_on_the_next_and_records_nothing(tmp_path):
    r = MemoryReporter(tmp_path, cancel_after=2)
    r.progress(0.1, "a")
    r.series("loss", 0, 1.0)
    with pytest.raises(Cancelled):
        r.candidate({"a": 1}, {"accuracy": 0.5})
    assert r.candidates == [] and len(r.progresses) == 1 and len(r.points) == 1
    with pytest.raises(Cancelled):  # stays cancelled
        r.progress(0.2)


def test_every_call_raises_once_cancelled(tmp_path):
    class Stopped(Reporter):
        def is_cancelled(self) -> bool:
            return True

    f = tmp_path / "a.json"
    f.write_text("{}")
    r = Stopped(tmp_path)
    for call in (lambda: r.progress(0.5), lambda: r.candidate({}, {}), lambda: r.series("s", 0, 1),
                 lambda: r.artifact("json", f)):
        with pytest.raises(Cancelled):
            call()


def test_progress_is_clamped_and_messages_truncated(tmp_path):
    r = MemoryReporter(tmp_path)
    r.progress(-1), r.progress(2), r.progress(float("nan")), r.progress(0.5, "x" * 1000)
    assert [p for p, _ in r.progresses] == [0.0, 1.0, 0.0, 0.5]
    assert len(r.progresses[-1][1]) == 500


def test_series_drops_non_finite_values(tmp_path):
    r = MemoryReporter(tmp_path)
    r.series("loss", 0, float("nan"))
    r.series("loss", 1, float("inf"))
    r.series("loss", 2, np.float32(0.5))
    assert r.points == [("loss", 2.0, 0.5)]


def test_candidates_get_indices_and_clean_copied_metrics(tmp_path):
    r = MemoryReporter(tmp_path)
    arch = {"model": "m"}
    assert r.candidate(arch, {"accuracy": np.float32(0.25)}) == 0
    arch["model"] = "changed"
    assert r.candidate({"x": 1}, {"latency_ms": torch.tensor(2.5), "bad": float("nan"), "ok": True,
                                  "src": "measured", "n": np.int64(3)}) == 1
    assert r.candidates[0] == ({"model": "m"}, {"accuracy": 0.25})
    m = r.candidates[1][1]
    assert m == {"latency_ms": 2.5, "bad": None, "ok": True, "src": "measured", "n": 3}
    assert type(m["n"]) is int and type(m["latency_ms"]) is float


def test_clean_metrics_turns_infinities_into_none_and_objects_into_text():
    out = clean_metrics({"a": -math.inf, "b": 1, "c": [1, 2]})
    assert out == {"a": None, "b": 1, "c": "[1, 2]"}  # a candidate's metrics stay flat


def test_a_summarys_tables_are_kept_and_cleaned_inside():
    """A run's summary keeps a technique's rows (HAQ's cross_hardware, HAT's
    hat_cross) as JSON, cleaned inside; what JSON cannot hold becomes text."""
    import numpy as np

    rows = [{"profile": "p", "own_ms": np.float64(2.5), "holds": True, "bad": math.nan, "set": {1}},
            (1, np.int64(2))]
    out = clean_metrics({"rows": rows, "x": np.float32(0.5)}, nested=True)
    assert out == {"rows": [{"profile": "p", "own_ms": 2.5, "holds": True, "bad": None, "set": "{1}"}, [1, 2]],
                   "x": 0.5}
    import json
    json.dumps(out, allow_nan=False)
    deep = [[[[[[[[[[1]]]]]]]]]]
    assert isinstance(clean_metrics({"d": deep}, nested=True)["d"][0][0][0][0][0][0][0][0], str)


def test_artifacts_are_checked(tmp_path):
    r = MemoryReporter(tmp_path)
    f = tmp_path / "table.json"
    f.write_text("{}")
    with pytest.raises(ValueError, match="kind"):
        r.artifact("exe", f)
    with pytest.raises(FileNotFoundError):
        r.artifact("json", tmp_path / "missing.json")
    with pytest.raises(ValueError, match="candidate"):
        r.artifact("json", f, candidate=0)  # no candidate reported yet
    i = r.candidate({}, {})
    r.artifact("json", f, "caption", "layers", candidate=i)
    assert r.artifacts == [("json", f, "caption", "layers", 0)]


def test_default_workdir_is_created():
    r = MemoryReporter()
    assert r.workdir.is_dir()


def test_typed_outputs_are_checked_and_handed_over(tmp_path):
    from engine.outputs import LatencyModelOutput

    r = MemoryReporter(tmp_path)
    lut, pred = tmp_path / "lut.json", tmp_path / "pred.json"
    lut.write_text("{}")
    with pytest.raises(TypeError, match="output"):
        r.output({"lookup_table": lut})  # a plain dict is not a typed output
    with pytest.raises(FileNotFoundError):
        r.output(LatencyModelOutput(lookup_table=lut, predictor=pred))
    pred.write_text("{}")
    out = LatencyModelOutput(lookup_table=lut, predictor=pred)
    r.output(out)
    assert r.outputs == [out] and out.files() == {"lookup_table": lut, "predictor": pred}
    stopped = MemoryReporter(tmp_path, cancel_after=0)
    with pytest.raises(Cancelled):
        stopped.output(out)
    assert stopped.outputs == []
