"""Networks as results: save, load with every tensor checked, no pickle, the CLI."""
from __future__ import annotations

import json
import pickle

import numpy as np
import onnx
import pytest
import torch

from engine import MemoryReporter
from engine.cli import main
from engine.modelzoo.zoo import build_model
from engine.networks import (Network, NetworkError, NetworkMismatch, NetworkSpec, SpecError, blocks, build_network,
                             check_spec, keep_network, list_networks, load_network, load_network_setting,
                             read_network, read_safetensors, save_network)
from engine.outputs import NetworkOutput
from engine.problems import ImageClassification, SequenceToSequence
from engine.spaces import get_space

P3 = ImageClassification(3, 32, 10)
MV2 = NetworkSpec("torchvision", {"model": "mobilenet_v2", "width": 0.5})


def _saved(tmp_path, **kw):
    torch.manual_seed(0)
    model = build_model("mobilenet_v2", width=0.5, num_classes=10)
    return model, save_network(model, Network(name="mv2", spec=MV2, problem=P3, **kw), tmp_path)


def test_a_saved_network_loads_with_the_same_outputs(tmp_path):
    model, folder = _saved(tmp_path, dataset="mnist-5k", metrics={"accuracy": 0.9, "accuracy_source": "trained"})
    assert sorted(p.name for p in folder.iterdir()) == ["network.json", "weights.safetensors"]
    net, loaded = load_network(folder)
    assert net.name == "mv2" and net.dataset == "mnist-5k" and net.metrics["accuracy_source"] == "trained"
    assert net.problem == P3 and net.spec.args == {"model": "mobilenet_v2", "width": 0.5}
    (x,) = P3.example_inputs(2)
    assert torch.allclose(model.eval()(x), loaded(x))


def test_a_load_names_every_tensor_that_differs(tmp_path):
    _, folder = _saved(tmp_path)
    meta = json.loads((folder / "network.json").read_text())
    meta["spec"]["args"]["width"] = 1.0  # the weights are of width 0.5
    (folder / "network.json").write_text(json.dumps(meta))
    with pytest.raises(NetworkMismatch) as e:
        load_network(folder)
    assert "features.0.0.weight is (16, 3, 3, 3) but the architecture needs (32, 3, 3, 3)" in str(e.value)


def test_missing_and_unexpected_tensors_are_named():
    model = build_model("mobilenet_v2", width=0.5, num_classes=10)
    state = dict(model.state_dict())
    state.pop("classifier.1.bias")
    state["extra.weight"] = torch.zeros(1)
    from engine.networks import check_tensors

    with pytest.raises(NetworkMismatch, match=r"missing tensors: classifier\.1\.bias.*does not have: extra\.weight"):
        check_tensors(model, state)


def test_a_pickle_renamed_safetensors_is_refused_unread(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(pickle.dumps({"w": torch.zeros(2)}))
    with pytest.raises(NetworkError, match="not a safetensors file"):
        read_safetensors(path)
    torch.save({"w": torch.zeros(2)}, path)  # torch's zip pickle
    with pytest.raises(NetworkError, match="not a (valid )?safetensors file"):
        read_safetensors(path)


def test_specs_are_checked_with_the_argument_named():
    with pytest.raises(SpecError) as e:
        check_spec(NetworkSpec("torchvision", {"model": "resnet9000"}), P3)
    assert e.value.field == "model" and "mobilenet_v2" in str(e.value)
    with pytest.raises(SpecError, match="no width 0.7") as e:
        check_spec(NetworkSpec("torchvision", {"model": "resnet18", "width": 0.7}), P3)
    with pytest.raises(SpecError, match="unknown arguments: depth"):
        check_spec(NetworkSpec("torchvision", {"model": "resnet18", "depth": 3}), P3)
    with pytest.raises(SpecError, match="unknown network builder"):
        check_spec(NetworkSpec("nope", {}), P3)
    with pytest.raises(SpecError, match="3-channel"):
        check_spec(MV2, ImageClassification(1, 28, 10))
    with pytest.raises(SpecError, match="not sequence-to-sequence"):
        check_spec(MV2, SequenceToSequence(10, 10, 4, 4))


def test_a_search_space_architecture_is_a_network(tmp_path):
    space = get_space("mbconv")
    arch = space.sample(np.random.default_rng(1))
    problem = ImageClassification(1, arch["resolution"], 10)
    model = space.build(arch, problem)
    spec = NetworkSpec("space", {"space": "mbconv", "params": space.params(), "arch": arch})
    folder = save_network(model, Network(name="nas", spec=spec, problem=problem), tmp_path)
    net, loaded = load_network(folder)
    x = space.example_inputs(arch, problem)
    assert torch.allclose(model.eval()(*x), loaded(*x))
    bad = dict(arch, depths=[9] * 5)
    with pytest.raises(SpecError, match="not an architecture of the mbconv space"):
        check_spec(NetworkSpec("space", {"space": "mbconv", "arch": bad}), problem)


def test_blocks_follow_the_network_in_order():
    model = build_model("mobilenet_v2", width=0.5, num_classes=10)
    rows = blocks(model, P3.example_inputs())
    names = [r["name"] for r in rows]
    assert names[0] == "features.0" and "features.17" in names and names[-1] == "classifier"
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[0]["out_shape"] == [1, 16, 16, 16]


def test_keep_network_reports_an_output_linked_to_its_candidate(tmp_path):
    rep = MemoryReporter(tmp_path)
    idx = rep.candidate({"model": "mv2"}, {"accuracy": 0.5})
    parent = Network(name="p", spec=MV2, problem=P3)
    net = keep_network(rep, build_model("mobilenet_v2", width=0.5, num_classes=10), name="child", spec=MV2,
                       problem=P3, metrics={"accuracy": 0.5}, parent=parent, candidate=idx, made_by="a test")
    (out,) = rep.outputs
    assert isinstance(out, NetworkOutput) and out.candidate == idx
    back = read_network(out.folder)
    assert back.id == net.id and back.parent == {"id": parent.id, "name": "p"}
    assert back.metrics["params"] > 0 and back.metrics["macs"] > 0


def test_a_network_setting_checks_the_problem_kind(tmp_path):
    _, folder = _saved(tmp_path)
    net, _ = load_network_setting(str(folder))
    assert net.name == "mv2"
    with pytest.raises(ValueError, match="backbone: .*image-classification network; this needs pose-forecast"):
        load_network_setting(str(folder), kinds=("pose-forecast",), setting="backbone")
    with pytest.raises(ValueError, match="holds no network.json"):
        load_network_setting(str(tmp_path / "nothing"))


def test_cli_lists_and_exports_networks(tmp_path, capsys):
    _saved(tmp_path / "networks")
    assert main(["networks", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mv2" in out and "image-classification" in out
    assert main(["networks", str(tmp_path), "--export", "mv2", "--format", "onnx", "--to",
                 str(tmp_path / "mv2.onnx")]) == 0
    onnx.checker.check_model(onnx.load(str(tmp_path / "mv2.onnx")))
    assert main(["networks", str(tmp_path), "--export", "nope", "--to", str(tmp_path / "x.onnx")]) == 2
    assert "no networks match" in capsys.readouterr().err
    assert main(["networks", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "mv2" and len(list_networks(tmp_path)) == 1


def test_cli_run_refuses_a_network_setting_that_is_not_a_network(tmp_path, capsys):
    code = main(["run", "tinytl", "--set", f"backbone_network={tmp_path}", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2 and "backbone_network" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_build_network_gives_fresh_modules():
    m = build_network(MV2, P3)
    assert m.eval()(*P3.example_inputs()).shape == (1, 10)


def test_torchvision_mobilenet_v2_maps_onto_tinytl_mobilenet(tmp_path):
    from engine.tinytl.backbones import backbone_from_network

    torch.manual_seed(1)
    model, folder = _saved(tmp_path)
    net, loaded = load_network(folder)
    base, arch = backbone_from_network(net, loaded)
    (x,) = P3.example_inputs(2)
    assert torch.allclose(base.eval()(x), model.eval()(x), atol=1e-5)
    other = Network(name="r18", spec=NetworkSpec("torchvision", {"model": "resnet18", "width": 1.0}), problem=P3)
    with pytest.raises(ValueError, match="TinyTL adapts MobileNetV2-style networks.*r18 is resnet18"):
        backbone_from_network(other, build_network(other.spec, P3))


def test_tinytl_adapts_a_saved_network_and_keeps_the_lineage(tmp_path):
    from engine import techniques
    from engine.hardware import get_profile

    _, folder = _saved(tmp_path / "in")
    t = techniques.get("tinytl")
    cfg = t.parse({**t.smoke, "methods": ["tinytl-lb"], "backbone_network": str(folder)})
    rep = MemoryReporter(tmp_path / "work")
    t.run(cfg, get_profile("local-cpu"), rep)
    (out,) = [o for o in rep.outputs if isinstance(o, NetworkOutput)]
    child, module = load_network(out.folder)
    assert child.parent == {"id": read_network(folder).id, "name": "mv2"}
    assert child.spec.builder == "tinytl" and child.technique == "tinytl"
    assert child.metrics["accuracy"] == rep.candidates[out.candidate][1]["accuracy"]
    onnx_path = tmp_path / "child.onnx"
    from engine.networks import export_onnx

    export_onnx(module, child.problem.example_inputs(), onnx_path, child.problem)
    onnx.checker.check_model(onnx.load(str(onnx_path)))


def test_cli_run_keeps_networks_in_the_results_folder(tmp_path, capsys):
    out = tmp_path / "zoo"
    code = main(["run", "model-zoo", "--quiet", "--out", str(out), "--set", "models=mobilenet_v2", "--set",
                 "widths=0.25", "--set", "train_epochs=1", "--set", "max_train_samples=64", "--set", "dataset=digits",
                 "--set", "latency_repeats=2"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    (kept,) = [o for o in summary["outputs"] if o["kind"] == "network"]
    net, _ = load_network(out / kept["folder"])
    assert net.technique == "model-zoo" and net.metrics["accuracy"] == summary["metrics"]["best_accuracy"]
    capsys.readouterr()
    assert main(["networks", str(out)]) == 0
    assert "mobilenet_v2-w0.25-r32" in capsys.readouterr().out


def test_the_cost_model_counts_tinytl_frozen_layers():
    """Frozen convolutions keep their weight as a buffer: still weights and MACs of the network."""
    from engine.hardware.cost import profile_model
    from engine.tinytl.lite_residual import LiteSpec
    from engine.tinytl.methods import prepare
    from engine.tinytl.mobilenet import TINY_SETTINGS, MobileNetArch, build_mobilenet

    base = build_mobilenet(MobileNetArch(width_mult=0.5, settings=TINY_SETTINGS, last_channels=256, num_classes=5))
    x = (torch.randn(1, 3, 32, 32),)
    stock, eff = (profile_model(prepare(base, "tinytl-lb", efficient=e, lite=LiteSpec(), input_shape=(3, 32, 32),
                                        generator=torch.Generator().manual_seed(0)), x) for e in (False, True))
    # folding each batch norm into its convolution removes only the norms' own weights and MACs
    assert 0.95 * stock.params < eff.params < stock.params
    assert 0.9 * stock.macs < eff.macs < stock.macs
