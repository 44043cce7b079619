"""An encoder-decoder exported as HAT deploys it: the encoder, and one decoder
step with its cache in and out; checked by onnx.checker and run in onnxruntime
beside PyTorch."""
import numpy as np
import onnx
import pytest
import torch

from engine import MemoryReporter
from engine.networks import (SPLIT_FILES, SplitExportError, can_split, export_onnx_split, keep_network,
                             read_network)
from engine.networks import export as export_module
from engine.problems import SequenceToSequence
from engine.spaces import HATSpace

SPACE = HATSpace("tiny")
PROBLEM = SequenceToSequence(50, 50, 6, 6)


def _net(arch):
    torch.manual_seed(0)
    return SPACE.build(arch, PROBLEM).eval()


def test_the_encoder_and_a_decoder_step_export_and_match_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    arch = {**SPACE.largest(), "decoder_arbitrary_ende_attn": [2, -1, 1]}  # memories of 3, 1 and 2 layers
    net = _net(arch)
    r = export_onnx_split(net, PROBLEM, tmp_path)
    assert r["checker"] == "passed" and r["onnxruntime_max_abs_diff"] < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SPLIT_FILES.values())  # nothing else left
    for p in r["files"].values():
        onnx.checker.check_model(str(p))
    # the step's inputs: the token, each layer's memory, each layer's cache, which grows by one
    dec = ort.InferenceSession(str(tmp_path / "decoder_step.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in dec.get_inputs()]
    assert names[0] == "token" and "mem_k_2" in names and names[-1] == "past_v_2"
    enc = ort.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"])
    src = torch.randint(4, 50, (2, 9))  # a batch of 2 and a length never traced
    mem = enc.run(None, {"source": src.numpy()})
    assert mem[0].shape[2] == 27 and mem[3].shape[2] == 9  # the first layer reads 3 encoder layers
    attn = [net.decoder.layers[i // 2].self_attn for i in range(6)]
    past = [np.zeros((2, a.heads, 0, a.k_proj.out_features // a.heads), np.float32) for a in attn]
    tok = np.full((2, 1), 2, np.int64)
    out = dec.run(None, {"token": tok, **dict(zip(names[1:10], mem)), **dict(zip(names[10:], past))})
    with torch.no_grad():
        ref, cache = net.step(torch.from_numpy(tok), 0, net.encode(src), None)
    assert np.abs(out[0] - ref.numpy()).max() < 1e-4 and out[1].shape[2] == 1


def test_a_failed_check_leaves_no_file_and_a_plain_network_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "_check_with_onnxruntime", lambda *a: (0.5, "test"))
    with pytest.raises(SplitExportError, match="differ from PyTorch's by 0.5"):
        export_onnx_split(_net(SPACE.smallest()), PROBLEM, tmp_path)
    assert not list(tmp_path.iterdir())
    lin = torch.nn.Linear(3, 3)
    assert not can_split(lin)
    with pytest.raises(SplitExportError, match="not an encoder-decoder"):
        export_onnx_split(lin, PROBLEM, tmp_path)


def test_keep_network_puts_the_split_beside_the_weights(tmp_path, monkeypatch):
    arch = SPACE.smallest()
    spec = {"builder": "space", "args": {"space": "hat", "params": SPACE.params(), "arch": arch}}
    rep = MemoryReporter(tmp_path)
    keep_network(rep, _net(arch), name="winner", spec=spec, problem=PROBLEM, split_onnx=True)
    folder = rep.outputs[-1].folder
    assert {p.name for p in folder.iterdir()} >= set(SPLIT_FILES.values())
    m = read_network(folder).metrics
    assert "onnx.checker passed" in m["onnx_split"]
    if m.get("onnx_split_max_abs_diff") is not None:
        assert m["onnx_split_max_abs_diff"] < 1e-4 and "onnxruntime" in m["onnx_split_max_abs_diff_source"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left
    # a split that fails is left out, the network kept, the metrics say why
    monkeypatch.setattr(export_module, "_check_with_onnxruntime", lambda *a: (0.5, "test"))
    keep_network(rep, _net(arch), name="other", spec=spec, problem=PROBLEM, split_onnx=True)
    folder = rep.outputs[-1].folder
    assert not (folder / "encoder.onnx").exists() and "not exported" in read_network(folder).metrics["onnx_split"]


def test_a_network_trained_with_dropout_exports_in_eval_mode(tmp_path):
    """(The exporter restores each wrapper's mode; a new wrapper's is training,
    which once switched the reference's dropout on and failed the check.)"""
    pytest.importorskip("onnxruntime")
    from engine.nn.transformer import HATTransformer

    torch.manual_seed(0)
    net = HATTransformer(SPACE.smallest(), vocab=50, qkv_dim=SPACE.qkv_dim, dropout=0.3).eval()
    assert export_onnx_split(net, PROBLEM, tmp_path)["onnxruntime_max_abs_diff"] < 1e-4
    assert not net.training


def test_the_cli_writes_the_split_of_a_kept_encoder_decoder(tmp_path, capsys):
    from engine.cli import main

    arch = SPACE.smallest()
    rep = MemoryReporter(tmp_path)
    keep_network(rep, _net(arch), name="winner", problem=PROBLEM,
                 spec={"builder": "space", "args": {"space": "hat", "params": SPACE.params(), "arch": arch}})
    assert main(["networks", str(tmp_path), "--export", "winner", "--format", "onnx-split",
                 "--to", str(tmp_path / "out")]) == 0
    assert "onnx.checker passed" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "out").iterdir()} == set(SPLIT_FILES.values())
