"""The sparsenet technique: bad input names the field, networks train at equal
settings and report measured memory and latency with its source, and the
memory measurement sees DenseNet's concatenations."""
from __future__ import annotations

import pytest
import torch

from engine import MemoryReporter, techniques
from engine.config import ConfigError
from engine.hardware import get_profile
from engine.spaces.aggregation import AggregationSpace, paper_arch
from engine.sparsenet import Config, networks_for, train_networks
from engine.sparsenet.technique import _augment
from engine.tinytl.memory import measure_training_memory
from engine.training import make_optimizer
from engine.problems import ImageClassification


def test_bad_input_names_the_field():
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"mode": "grid", "grid_depths": [16, 27]})
    assert "grid_depths" in e.value.errors and "27 does not fit the block layout" in e.value.errors["grid_depths"]
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"mode": "grid", "grid_depths": [25], "grid_bottleneck": True})  # 21 convs: not 6n
    assert "2 convolutions a layer" in e.value.errors["grid_depths"]
    Config.from_dict({"mode": "grid", "grid_depths": [28], "grid_bottleneck": True})  # 24 convs: 4 BC layers a block
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"grid_growths": [8, 500]})
    assert "grid_growths" in e.value.errors
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"grid_rules": ["concat-all", "mean"]})
    assert "grid_rules" in e.value.errors
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"image_size": 4})
    assert "image_size" in e.value.errors
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"networks": ["densenet-41-12"]})
    assert "networks" in e.value.errors


def test_grid_and_sample_modes_make_the_networks_asked_for():
    space, nets = networks_for(Config.from_dict({"mode": "grid", "grid_rules": ["sum-all", "concat-exp"],
                                                 "grid_depths": [10, 16], "grid_growths": [4]}))
    assert [n for n, _ in nets] == ["sum-all-10-4", "sum-all-16-4", "concat-exp-10-4", "concat-exp-16-4"]
    assert all(space.validate(a) == a for _, a in nets)
    space, nets = networks_for(Config.from_dict({"mode": "sample", "samples": 3}))
    assert len(nets) == 3 and len({space.network_key(a) for _, a in nets}) == 3


def test_densenet_concatenations_save_more_for_backward_than_a_sum():
    """The measured bytes autograd saves: a concat-all block saves each layer's
    growing concatenated input, a sum block saves inputs of the growth rate."""
    sp, prob = AggregationSpace.paper(), ImageClassification(1, 16, 10)
    batch = (torch.randn(4, 1, 16, 16), torch.randint(0, 10, (4,)))
    mem = {}
    for rule in ("concat-all", "concat-exp", "sum-all"):
        model = sp.build(paper_arch(28, 16, rule), prob)
        mem[rule] = measure_training_memory(model, batch, make_optimizer=lambda ps: make_optimizer(ps, lr=0.1))
    assert mem["concat-all"].activation_bytes > mem["concat-exp"].activation_bytes > mem["sum-all"].activation_bytes
    assert mem["sum-all"].activation_bytes > 0


def test_networks_train_at_equal_settings_and_report_measured_figures():
    cfg = Config.from_dict({"dataset": "digits", "networks": ["densenet-16-8", "resnet-16-16"], "epochs": 2,
                            "train_limit": 96, "test_limit": 48, "batch_size": 16, "memory_batch_size": 4,
                            "latency_repeats": 1})
    rep = MemoryReporter()
    nets, facts = train_networks(cfg, get_profile("local-cpu"), reporter=rep)
    assert [n.name for n in nets] == ["densenet-16-8", "resnet-16-16"] and facts["dataset"] == "digits"
    for n in nets:
        m = n.metrics
        assert 0.0 <= m["accuracy"] <= 1.0 and m["params"] == sum(p.numel() for p in n.model.parameters())
        assert m["latency_source"] == "measured" and m["latency_ms"] > 0
        assert m["training_memory_bytes_measured"] == (m["activation_bytes_measured"] + m["param_bytes_measured"]
                                                       + m["grad_bytes_measured"] + m["optimizer_bytes_measured"])
        assert m["depth"] == 16 and m["rule"] in ("concat-all", "sum-all")
        assert n.structure["connectivity"][0]["rule"] == m["rule"]
    names = {s[0] for s in rep.points}
    assert {"accuracy/densenet-16-8", "loss/resnet-16-16"} <= names
    assert len([s for s in rep.points if s[0] == "accuracy/densenet-16-8"]) == 2


def test_a_profile_not_this_machine_gets_an_estimate_with_its_source(tmp_path):
    t = techniques.get("sparsenet")
    rep = MemoryReporter(tmp_path)
    t.run(t.parse({**t.smoke, "networks": ["sparsenet-16-16"]}), get_profile("raspberry-pi-4"), rep)
    (_, m), = rep.candidates
    assert m["latency_source"] == "roofline" and m["latency_ms"] > 0


def test_paper_augmentation_crops_and_flips_keeping_the_shape():
    torch.manual_seed(0)
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    y = _augment(x, pad=2)
    assert y.shape == x.shape and not torch.equal(x, y)
    # every output pixel is an input pixel or the zero padding
    assert set(y.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
