"""The three NAS techniques on their smoke configs (tiny, seconds)."""
import pytest

from engine import MemoryReporter, techniques
from engine.config import ConfigError
from engine.hardware import get_profile


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    return tmp_path


def _run(name, overrides=None):
    t = techniques.get(name)
    r = MemoryReporter()
    summary = t.run(t.parse({**t.smoke, **(overrides or {})}), get_profile("raspberry-pi-4"), r)
    return summary, r


def test_supernet_then_evolution_front(cache):
    summary, r = _run("supernet")
    assert (cache / "checkpoints" / "smoke-supernet.safetensors").is_file()
    assert any(a[0] == "safetensors" for a in r.artifacts)
    assert {"loss per step", "accuracy/largest (val)"} <= {p[0] for p in r.points}
    summary, r = _run("evolution", {"checkpoint": "smoke-supernet", "mode": "front", "front_evaluated": 3})
    front = [m for _, m in r.candidates if m.get("search") == "nsga2" and "front_rank" in m]
    assert front and all(m["latency_source"] == "roofline" for m in front)
    lat = [m["latency_ms"] for m in front]
    assert lat == sorted(lat)
    # every front point carries the predictor's accuracy, labelled as such; a spread subset is checked
    assert all(m["accuracy_source"] == "predictor" and m["accuracy"] == m["predicted_accuracy"] for m in front)
    checked = [m for m in front if "supernet_accuracy" in m]
    assert 1 <= len(checked) <= 3 and all(0 <= m["supernet_accuracy"] <= 1 for m in checked)
    assert summary.metrics["front_size"] == len(front) and summary.metrics["front_evaluated"] == len(checked)
    assert -1 <= summary.metrics["eval_repeatability_spearman"] <= 1 or \
        summary.metrics["eval_repeatability_spearman"] != summary.metrics["eval_repeatability_spearman"]  # nan
    assert any(p[0] == "predictor RMSE on held-out sub-nets/predictor" for p in r.points)
    assert any(a[0] == "onnx" for a in r.artifacts)
    # constrained mode on the same checkpoint: evolution against random search by best predicted accuracy
    summary, r = _run("evolution", {"checkpoint": "smoke-supernet", "mode": "constrained"})
    m = summary.metrics
    assert m["predicted_accuracy_gap"] == pytest.approx(m["evolution_best_predicted"] - m["random_best_predicted"])
    assert 0 <= m["evolution_best_supernet_accuracy"] <= 1
    assert any(p[0] == "best fitness per generation/random search" for p in r.points)


def test_evolution_checkpoint_validated(cache):
    t = techniques.get("evolution")
    with pytest.raises(ConfigError) as e:
        t.parse({"checkpoint": "nope"})
    assert "checkpoint" in e.value.errors
    with pytest.raises(ConfigError) as e:  # the default (newest checkpoint) with none trained yet
        t.parse({})
    assert "'supernet' technique first" in e.value.errors["checkpoint"]
    assert t.parse({"checkpoint": "fresh-tiny"}).checkpoint == "fresh-tiny"


def test_proxyless_smoke(cache):
    summary, r = _run("proxylessnas")
    arch, metrics = r.candidates[-1]
    assert {"resolution", "depths", "kernels", "expands"} <= set(arch) and arch["blocks"]
    assert metrics["latency_source"] == "roofline" and "predicted_latency_ms" in metrics
    assert any(p[0].startswith("op probabilities, block 01/") for p in r.points)
