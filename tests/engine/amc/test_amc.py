"""AMC: channels removed for real through the dependency graph, a policy
priced exactly before it is built, the action wall that holds the budget, the
baselines at the same budget, and the pruned network saved and rebuilt."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import ConfigError, techniques
from engine.amc.env import PruningEnv
from engine.amc.pruning import PruningError, analyse, kept_channels, prune
from engine.hardware.cost import profile_model
from engine.modelzoo.zoo import build_model
from engine.networks import Network, NetworkSpec, load_network, save_network
from engine.problems import ImageClassification

P = ImageClassification(3, 32, 10)


@pytest.mark.parametrize("model", ["mobilenet_v2", "resnet18"])
def test_a_policy_is_priced_exactly_and_the_pruned_network_runs(model):
    m = build_model(model, width=0.5 if model == "mobilenet_v2" else 1.0).eval()
    x = P.example_inputs()
    plan = analyse(m, x)
    assert len(plan.groups) >= 10 and plan.groups[0].index == 0
    rng = np.random.default_rng(0)
    for _ in range(3):
        ratios = rng.uniform(0.2, 1.0, len(plan.groups))
        small = prune(m, plan, ratios, example_inputs=x)
        real = profile_model(small, x)
        est = plan.cost(ratios)
        assert est["macs"] == pytest.approx(real.macs, rel=2e-3)
        assert est["params"] == pytest.approx(real.params, rel=2e-3)
        assert small(*x).shape == (1, 10)  # residual adds and depthwise groups stayed consistent
        for g, k in kept_channels(plan, ratios).items():
            mod = dict(small.named_modules())[g]
            assert (mod.out_channels if hasattr(mod, "out_channels") else mod.out_features) == k
            c = plan.groups[plan.names[g]].channels
            assert k % 8 == 0 or k == c or c < 16  # a group under two multiples of 8 is cut one by one


def test_the_lowest_norm_channels_go():
    m = build_model("resnet18").eval()
    x = P.example_inputs()
    plan = analyse(m, x)
    g = plan.groups[1]
    conv = dict(m.named_modules())[g.name]
    with torch.no_grad():
        conv.weight[: g.channels // 2] *= 1e-3  # the first half is nearly zero
    ratios = [1.0] * len(plan.groups)
    ratios[g.index] = 0.5
    small = prune(m, plan, ratios, example_inputs=x, criterion="l1")
    kept = dict(small.named_modules())[g.name].weight
    assert kept.abs().mean() > 10 * conv.weight[: g.channels // 2].abs().mean()


def test_the_wall_holds_the_budget_for_any_actions():
    m = build_model("mobilenet_v2", width=0.5).eval()
    plan = analyse(m, P.example_inputs())
    env = PruningEnv(plan, budget=0.5, resource="flops")
    rng = np.random.default_rng(1)
    for act in (lambda s, t: 1.0, lambda s, t: rng.uniform(0.2, 1.0), lambda s, t: 0.2):
        ratios, transitions = env.episode(act)
        assert env.fraction(ratios) <= 0.5 + 1e-9
        assert len(transitions) == len(plan.groups) and transitions[-1].done
        assert transitions[0].state.shape == (10,) and np.all(np.isfinite(transitions[0].state))
    full, _ = env.episode(lambda s, t: 1.0)
    assert env.fraction(full) > 0.35  # the wall is greedy (later groups assumed at lbound), not wasteful
    for ratios in (env.uniform(), env.global_magnitude([np.random.default_rng(i).random(g.channels)
                                                        for i, g in enumerate(plan.groups)])):
        assert 0.4 < env.fraction(ratios) <= 0.5 + 1e-9  # channel counts round to multiples of 8


def test_a_budget_no_policy_can_meet_is_refused():
    plan = analyse(build_model("resnet18").eval(), P.example_inputs())
    with pytest.raises(PruningError, match="cannot be met: keeping 20% of every layer"):
        PruningEnv(plan, budget=0.05, resource="flops")
    t = techniques.get("amc")
    with pytest.raises(ConfigError) as e:
        t.parse({"resource": "energy", "budget": 2.0})
    assert set(e.value.errors) == {"resource", "budget"}
    with pytest.raises(ConfigError, match="warmup"):
        t.parse({"episodes": 5, "warmup": 5})


def test_a_pruned_network_saves_and_rebuilds_from_its_spec(tmp_path):
    m = build_model("mobilenet_v2", width=0.5).eval()
    x = P.example_inputs()
    plan = analyse(m, x)
    ratios = [0.5] * len(plan.groups)
    small = prune(m, plan, ratios, example_inputs=x).eval()
    spec = NetworkSpec("pruned", {"base": {"builder": "torchvision", "args": {"model": "mobilenet_v2", "width": 0.5}},
                                  "channels": kept_channels(plan, ratios)})
    folder = save_network(small, Network(name="pruned", spec=spec, problem=P), tmp_path)
    _, back = load_network(folder)
    assert torch.allclose(small(*x), back(*x), atol=1e-6)


def test_an_interrupted_search_resumes_where_it_stopped(tmp_path, monkeypatch):
    """Cancelled between episodes, then run again: the episodes go on from the
    checkpoint and end where an uninterrupted run ends."""
    from engine import Cancelled, MemoryReporter
    from engine.hardware import get_profile

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))
    t = techniques.get("amc")
    cfg = t.parse({**t.smoke, "episodes": 5, "warmup": 2, "finetune_epochs": 0})
    hw = get_profile("raspberry-pi-4")  # estimated latency: the run is deterministic

    whole = MemoryReporter(tmp_path / "a")
    t.run(cfg, hw, whole)
    first = MemoryReporter(tmp_path / "b", cancel_after=24)
    with pytest.raises(Cancelled):
        t.run(cfg, hw, first)
    searched = [a for a, _ in first.candidates if a["search"] in ("agent", "random")]
    assert 0 < len(searched) < 10
    second = MemoryReporter(tmp_path / "c")
    t.run(cfg, hw, second)
    assert any("resuming at episode" in m for _, m in second.progresses)
    resumed = [a for a, _ in second.candidates if a["search"] in ("agent", "random")]
    again = resumed[0]["episode"]  # the first episode not checkpointed before the cancel
    assert 1 <= again <= searched[-1]["episode"]
    assert resumed == [a for a, _ in whole.candidates if a["search"] in ("agent", "random") and a["episode"] >= again]
    final = lambda rep: [(a, m["accuracy"]) for a, m in rep.candidates if "fine-tuned" in a["search"]]  # noqa: E731
    assert final(second) == final(whole)
