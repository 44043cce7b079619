"""HAQ: fake quantisation per layer (linear with KL clipping, k-means), the
environment's budget enforcement on a bit-flexible profile, clear errors, and
the quantised network saved and rebuilt."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import ConfigError, MemoryReporter, techniques
from engine.hardware import get_profile
from engine.hardware.cost import profile_model
from engine.haq.env import QuantEnv
from engine.haq.quant import fake_quant, kl_threshold, quantizable_layers, quantize
from engine.modelzoo.zoo import build_model
from engine.networks import Network, NetworkSpec, load_network, save_network
from engine.problems import ImageClassification

P = ImageClassification(3, 32, 10)


def test_fake_quant_levels_and_straight_through_gradient():
    x = torch.linspace(-1, 1, 101, requires_grad=True)
    q = fake_quant(x, 3, 1.0, True)
    assert len(torch.unique(q.detach())) == 7  # -3..3 levels
    q.sum().backward()
    assert torch.all(x.grad == 1)  # the rounding passes gradients straight through
    assert len(torch.unique(fake_quant(torch.rand(1000), 2, 1.0, False))) == 4


def test_kl_clipping_cuts_outliers_at_low_bits():
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.normal(0, 0.1, 10_000), [3.0, -3.0]])  # two outliers
    assert kl_threshold(w, 3) < 1.0 < 3.0
    assert kl_threshold(w, 8) > kl_threshold(w, 3)


def test_quantised_network_keeps_accuracy_at_8_bits_and_rebuilds(tmp_path):
    torch.manual_seed(0)
    m = build_model("mobilenet_v2", width=0.25).eval()
    (x,) = P.example_inputs(4)
    layers = quantizable_layers(m, P.example_inputs())
    assert layers[0].name == "features.0.0" and layers[-1].name == "classifier.1" and any(i.depthwise for i in layers)
    calib = [torch.randn(16, 3, 32, 32)]
    q8 = quantize(m, layers, [(8, 8)] * len(layers), calib).eval()
    assert torch.allclose(q8(x), m(x), atol=0.05 * m(x).abs().max().item() + 1e-3)
    pol = [(8, 8)] + [(4, 6)] * (len(layers) - 2) + [(8, 8)]
    for mode in ("linear", "kmeans"):
        q = quantize(m, layers, pol, calib, mode=mode).eval()
        w = q.get_submodule(layers[3].name).quantized_weight()
        assert len(torch.unique(w.detach())) <= 16
        spec = NetworkSpec("quantized", {"base": {"builder": "torchvision", "args": {"model": "mobilenet_v2",
                                                                                       "width": 0.25}},
                                         "policy": [list(p) for p in pol], "mode": mode})
        folder = save_network(q, Network(name=f"q-{mode}", spec=spec, problem=P), tmp_path)
        _, back = load_network(folder)
        assert torch.allclose(back(x), q(x), atol=1e-5)


def test_the_budget_is_enforced_and_an_impossible_one_refused():
    m = build_model("mobilenet_v2", width=1.0).eval()
    p64 = ImageClassification(3, 64, 10)
    layers, cost = quantizable_layers(m, p64.example_inputs()), profile_model(m, p64.example_inputs())
    env = QuantEnv(cost, layers, get_profile("bitfusion"), "latency", 0.6)
    assert env.fraction(env.uniform(4)) < env.fraction(env.uniform(6)) < 1.0  # fewer bits, faster on BitFusion
    for act in (lambda s, t: 1.0, lambda s, t: np.random.default_rng(t).random()):
        policy, transitions = env.episode(act)
        assert env.fraction(policy) <= 0.6 + 1e-9
        assert policy[0] == (8, 8) and policy[-1] == (8, 8)
        assert len(transitions) == 2 * len(layers) and transitions[-1].done
    cpu = QuantEnv(cost, layers, get_profile("raspberry-pi-4"), "latency", 1.0)
    assert cpu.fraction(cpu.uniform(4)) > 0.85  # an int8 CPU gains little below 8 bits
    with pytest.raises(ValueError, match="cannot be met: 2 bits everywhere"):
        QuantEnv(cost, layers, get_profile("raspberry-pi-4"), "latency", 0.5)
    with pytest.raises(ConfigError) as e:
        techniques.get("haq").parse({"min_bits": 8, "max_bits": 4, "resource": "joules"})
    assert {"min_bits", "resource"} <= set(e.value.errors)


def test_haq_keeps_its_network_and_measures_int8(tmp_path):
    t = techniques.get("haq")
    rep = MemoryReporter(tmp_path)
    s = t.run(t.parse({**t.smoke, "measure_int8": True, "resource": "latency", "budget": 0.97}),
              get_profile("bitfusion"), rep)
    assert s.metrics["budget_met_fraction"] == 1.0 and s.metrics["int8_measured_speedup"] > 0
    assert any(kind == "pt" and "int8" in caption for kind, _, caption, _, _ in rep.artifacts)
    (out,) = rep.outputs
    net, module = load_network(out.folder)
    assert net.spec.builder == "quantized" and net.technique == "haq"
    assert module(*net.problem.example_inputs()).shape == (1, 10)


def test_a_cost_table_in_the_reference_layout_is_checked_and_used(tmp_path):
    from engine.haq.env import load_cost_table

    m = build_model("mobilenet_v2", width=0.25).eval()
    layers = quantizable_layers(m, P.example_inputs())
    n = len(layers)
    good = np.fromfunction(lambda i, w, a: (w + 1) * (a + 1) / 64.0, (n, 8, 8))
    cases = {"shape": np.zeros((n, 8)), "count": np.ones((n + 1, 8, 8)), "negative": -good,
             "nan": np.full((n, 8, 8), np.nan)}
    for name, arr in cases.items():
        np.save(tmp_path / f"{name}.npy", arr)
    msgs = {"shape": r"reference layout is \(layers, 8, 8\)", "count": f"but the network has {n}",
            "negative": "finite number >= 0", "nan": "finite number >= 0"}
    for name, msg in msgs.items():
        with pytest.raises(ValueError, match=msg):
            load_cost_table(str(tmp_path / f"{name}.npy"), layers)
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain .npy array"):
        load_cost_table(str(tmp_path / "pickle.npy"), layers)
    np.save(tmp_path / "good.npy", good)
    t = techniques.get("haq")
    rep = MemoryReporter(tmp_path / "w")
    s = t.run(t.parse({**t.smoke, "resource": "latency", "budget": 0.5, "cost_table": str(tmp_path / "good.npy")}),
              get_profile("local-cpu"), rep)
    assert s.metrics["latency_source"] == "lut" and s.metrics["latency_ratio_vs_w8a8"] <= 0.5 + 1e-9


def test_energy_shrinks_with_bits_and_is_labelled_an_estimate():
    from engine.haq.env import ENERGY_SOURCE, policy_cost
    from engine.metrics import ESTIMATE_SOURCES

    m = build_model("mobilenet_v2", width=0.25).eval()
    layers, cost = quantizable_layers(m, P.example_inputs()), profile_model(m, P.example_inputs())
    e = [policy_cost(cost, layers, [(b, b)] * len(layers), get_profile("bitfusion"), "energy") for b in (8, 4, 2)]
    assert e[0] > e[1] > e[2] > 0
    assert ENERGY_SOURCE in ESTIMATE_SOURCES


def test_per_channel_weights_keep_a_range_each_and_rebuild(tmp_path):
    torch.manual_seed(0)
    m = build_model("mobilenet_v2", width=0.25).eval()
    layers = quantizable_layers(m, P.example_inputs())
    pol = [(8, 8)] + [(4, 8)] * (len(layers) - 2) + [(8, 8)]
    q = quantize(m, layers, pol, [torch.randn(16, 3, 32, 32)], per_channel=True).eval()
    lay = q.get_submodule(layers[3].name)
    assert lay.w_clip.shape == (lay.layer.weight.shape[0],)
    w = lay.quantized_weight().detach()
    assert all(len(torch.unique(w[c])) <= 15 for c in range(w.shape[0]))  # 4 bits signed per channel
    spec = NetworkSpec("quantized", {"base": {"builder": "torchvision", "args": {"model": "mobilenet_v2", "width": 0.25}},
                                     "policy": [list(p) for p in pol], "per_channel": True})
    _, back = load_network(save_network(q, Network(name="pc", spec=spec, problem=P), tmp_path))
    (x,) = P.example_inputs(2)
    assert torch.allclose(back(x), q(x), atol=1e-5)


def test_a_run_offers_its_cost_table_layout_to_fill_with_device_timings(tmp_path):
    """How to build a table for one's own network and hardware: the run writes the
    rows (layers in order) and the table in the reference layout filled with the
    profile's estimate; that file, edited or not, is accepted back as cost_table."""
    import csv

    from engine.haq.env import load_cost_table

    t = techniques.get("haq")
    rep = MemoryReporter(tmp_path / "a")
    t.run(t.parse({**t.smoke, "resource": "latency", "budget": 0.97}), get_profile("bitfusion"), rep)
    files = {kind: (path, caption) for kind, path, caption, group, _ in rep.artifacts if group == "cost table"}
    assert set(files) == {"csv", "npy"} and "ESTIMATE" in files["npy"][1]
    table = np.load(files["npy"][0], allow_pickle=False)
    rows = list(csv.DictReader(open(files["csv"][0])))
    assert table.shape == (len(rows), 8, 8) and [int(r["row"]) for r in rows] == list(range(len(rows)))
    assert np.all(table > 0)
    assert np.all(np.diff(table, axis=1) >= -1e-12) and np.all(np.diff(table, axis=2) >= -1e-12)  # more bits, dearer
    m = build_model("mobilenet_v2", width=0.25).eval()
    assert load_cost_table(files["npy"][0], quantizable_layers(m, P.example_inputs())).shape == table.shape
    s = t.run(t.parse({**t.smoke, "resource": "latency", "budget": 0.97, "cost_table": str(files["npy"][0])}),
              get_profile("bitfusion"), MemoryReporter(tmp_path / "b"))
    assert s.metrics["latency_source"] == "lut" and s.metrics["latency_ratio_vs_w8a8"] <= 0.97 + 1e-9


def test_a_two_profile_run_tests_both_searched_policies_and_tables_them(tmp_path):
    import dataclasses

    from engine.haq.technique import _run

    t = techniques.get("haq")
    bf = get_profile("bitfusion")
    narrow = dataclasses.replace(bf, name="narrow", memory_bandwidth_gbs=bf.memory_bandwidth_gbs / 8)
    rep = MemoryReporter(tmp_path)
    # (at 0.9 the two profiles' budgets cut different bits: the searches end on different policies)
    s = _run(t.parse({**t.smoke, "resource": "latency", "budget": 0.9}), bf, rep, extra_profiles={"narrow": narrow})
    rows = {r["profile"]: r for r in s.metrics["cross_hardware"]}
    assert s.metrics["cross_same_policy"] is False
    assert set(rows) == {"bitfusion", "narrow"} and rows["bitfusion"]["other"] == "narrow"
    # each profile's own policy and the other's, priced there and tested on the test split
    assert rows["bitfusion"]["own_acc"] == s.metrics["acc_mixed"] and rows["narrow"]["other_acc"] == s.metrics["acc_mixed"]
    assert rows["narrow"]["own_acc"] == rows["bitfusion"]["other_acc"]
    assert s.metrics["own_policy_fastest"] == all(r["own_fastest"] for r in rows.values())
    # at the same budget: the own policy meets its own profile's budget; the verdict follows the rows
    assert s.metrics["own_policy_best_at_budget"] == all(r["own_best_at_budget"] for r in rows.values())
    assert "budget" in s.message.split("matched test accuracy", 1)[1]
    searched = {c["search"] for c, _ in rep.candidates}
    assert "agent (fine-tuned)" in searched
    assert "agent for narrow (fine-tuned)" in searched  # the other profile's policy, tested as its own candidate
    assert "matched test accuracy" in s.message


def test_confirm_top_chooses_among_a_searchs_best_by_the_held_out_images_after_the_fine_tune(tmp_path):
    """With ``confirm_top`` the search's result is the best of its top policies
    by episode score once each is fine-tuned, chosen on the held-out training
    images (``val_accuracy``), never on the test split."""
    t = techniques.get("haq")
    rep = MemoryReporter(tmp_path)
    s = t.run(t.parse({**t.smoke, "episodes": 4, "warmup": 3, "finetune_epochs": 1, "confirm_top": 3,
                       "resource": "latency", "budget": 0.97}), get_profile("bitfusion"), rep)
    c = s.metrics["confirmed_top"]["agent"]
    tuned = [m for a, m in rep.candidates if a["search"] == "agent (fine-tuned)"]
    assert c["ranks"] == len(tuned) == len(c["val_accuracies"]) and 2 <= c["ranks"] <= 3
    chosen = max(tuned, key=lambda m: m["val_accuracy"])
    assert chosen["val_accuracy"] == max(c["val_accuracies"]) == c["val_accuracies"][c["chosen_rank"] - 1]
    assert s.metrics["acc_mixed"] == chosen["accuracy"]  # reported on the test split
    # the kept network is the chosen policy
    (out,) = rep.outputs
    net, _ = load_network(out.folder)
    assert net.metrics["accuracy"] == chosen["accuracy"]
    assert [list(p) for p in net.spec.args["policy"]] == chosen_bits(rep, chosen)


def chosen_bits(rep, metrics):
    return next(a["bits"] for a, m in rep.candidates if m is metrics)
