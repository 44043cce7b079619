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
    # constrained mode on the same checkpoint: the headline compares several winners per method on the super-net
    summary, r = _run("evolution", {"checkpoint": "smoke-supernet", "mode": "constrained", "winners_checked": 3,
                                    "latency_margin": 0.1})
    m = summary.metrics
    assert m["predicted_accuracy_gap"] == pytest.approx(m["evolution_best_predicted"] - m["random_best_predicted"])
    checked = [c for _, c in r.candidates if c.get("stage") == "checked winner"]
    ev = [c["supernet_accuracy"] for c in checked if c["search"] == "evolution"]
    rv = [c["supernet_accuracy"] for c in checked if c["search"] == "random"]
    assert 1 <= len(ev) <= 3 and 1 <= len(rv) <= 3 and m["winners_checked_evolution"] == len(ev)
    assert m["constrained_supernet_acc_evolution"] == pytest.approx(sum(ev) / len(ev))
    assert m["constrained_supernet_acc_random"] == pytest.approx(sum(rv) / len(rv))
    assert m["supernet_gap_ci_low"] <= m["supernet_gap"] <= m["supernet_gap_ci_high"]
    assert all(c["latency_ms"] <= c["latency_limit_ms"] and c["accuracy_source"] == "supernet" for c in checked)
    # the margin tightens the search, the check holds the limit itself
    assert m["search_limit_ms"] == pytest.approx(0.9 * m["latency_limit_ms"])
    assert "on the super-net" in summary.message and "predicted" in summary.message
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
    arch, metrics = next(c for c in r.candidates if c[1]["search"] == "proxylessnas")
    # uniform baselines (smoke: the corners, at the smallest and largest depth), trained and priced alike
    base = [m for _, m in r.candidates if m["search"] == "uniform baseline"]
    assert len(base) == 4 and all(m["accuracy_source"] == "trained from scratch" for m in base)
    assert all(m["latency_source"] == "roofline" and m["latency_ms"] > 0 for m in base)
    assert summary.metrics["baselines"] == 4
    if summary.metrics["best_uniform_acc"] is not None:
        assert summary.metrics["proxyless_vs_best_uniform_acc"] == pytest.approx(
            metrics["accuracy"] - summary.metrics["best_uniform_acc"])
    # the derived network meets its target on the latency it was searched with
    assert metrics["table_latency_ms"] <= metrics["target_ms"] + 1e-9 or metrics["ops_moved_to_fit"] == 0
    assert {"resolution", "depths", "kernels", "expands"} <= set(arch) and arch["blocks"]
    assert metrics["latency_source"] == "roofline" and "predicted_latency_ms" in metrics
    assert any(p[0].startswith("op probabilities, block 01/") for p in r.points)
