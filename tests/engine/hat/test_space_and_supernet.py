"""HAT's space, the static SubTransformer and the weight-shared SuperTransformer."""
import numpy as np
import pytest
import torch

from engine.nn.elastic_transformer import SuperTransformer, front_slice
from engine.problems import ImageClassification, SequenceToSequence
from engine.spaces import ArchError, HATSpace, get_space
from engine.spaces.transformer import FEATURES, PRESETS


@pytest.fixture(scope="module")
def space():
    return HATSpace("tiny")


def test_samples_mutations_and_crossovers_stay_in_the_space(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(30)]
    for a, b in zip(archs, archs[1:]):
        space.validate(space.mutate(a, rng, 0.3))
        c = space.crossover(a, b, rng)
        space.validate(c)
        for k, v in c.items():  # every gene comes from one of the parents
            if isinstance(v, list):
                assert all(x in (p, q) for x, p, q in zip(v, a[k], b[k]))
            else:
                assert v in (a[k], b[k])
    assert len({space.network_key(a) for a in archs}) > 20
    assert space.mutate(archs[0], rng, 0.0) == archs[0]


def test_validate_refuses_values_outside_the_choices(space):
    a = space.largest()
    with pytest.raises(ArchError, match="encoder_embed_dim"):
        space.validate({**a, "encoder_embed_dim": 65})
    with pytest.raises(ArchError, match="decoder_ffn_embed_dim"):
        space.validate({**a, "decoder_ffn_embed_dim": [64]})
    with pytest.raises(ArchError, match="missing"):
        space.validate({k: v for k, v in a.items() if k != "decoder_layer_num"})
    with pytest.raises(ValueError, match="sequence-to-sequence"):
        space.build(a, ImageClassification(1, 28, 10))


def test_the_ten_features_are_hats_and_normalised_by_the_largest(space):
    a = space.largest()
    assert space.encoding_size == len(FEATURES) == 10
    assert np.allclose(space.encode(a), 1.0)
    b = {**space.smallest(), "decoder_layer_num": 2, "decoder_ffn_embed_dim": [256, 64, 256]}
    f = dict(zip(FEATURES, space.features(b)))
    assert f["decoder_layer_num"] == 2 and f["decoder_ffn_embed_dim_avg"] == (256 + 64) / 2  # unused third ignored
    assert f["decoder_arbitrary_ende_attn_avg"] == 1  # code -1: one encoder layer attended, HAT's feature
    mixed = {**space.largest(), "decoder_arbitrary_ende_attn": [-1, 1, 2]}
    assert dict(zip(FEATURES, space.features(mixed)))["decoder_arbitrary_ende_attn_avg"] == 2.0  # (1 + 2 + 3) / 3
    # genes of unused decoder layers do not make another network
    c = {**b, "decoder_ffn_embed_dim": [256, 64, 128]}
    assert space.network_key(b) == space.network_key(c)
    assert get_space("hat", preset="space0").norm.tolist() == [640, 6, 3072, 8, 640, 6, 3072, 8, 8, 3]
    assert set(PRESETS) >= {"tiny", "small", "space0", "space1"}


def test_layers_say_which_encoder_layers_each_decoder_layer_attends(space):
    a = {**space.largest(), "decoder_arbitrary_ende_attn": [-1, 1, 2]}
    dec = [layer for layer in space.layers(a) if layer["part"] == "decoder"]
    assert [d["attends_encoder_layers"] for d in dec] == [[3], [2, 3], [1, 2, 3]]


def _batch(vocab=60):
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, vocab, (3, 7), generator=g)
    src[1, 4:] = 0  # padding
    return src, torch.randint(4, vocab, (3, 5), generator=g)


def test_extract_gives_the_supernets_output_for_every_architecture(space):
    torch.manual_seed(0)
    sup = SuperTransformer(space, vocab=60).eval()
    src, tgt = _batch()
    rng = np.random.default_rng(3)
    for arch in [space.largest(), space.smallest(), *[space.sample(rng) for _ in range(4)]]:
        net = sup.extract(arch).eval()
        assert type(net).__name__ == "HATTransformer"
        assert sum(p.numel() for p in net.parameters()) <= sum(p.numel() for p in sup.parameters())
        torch.testing.assert_close(net(src, tgt), sup(src, tgt, arch), rtol=0, atol=0)


def test_archs_share_front_slices_and_gradients_stay_inside_them(space):
    torch.manual_seed(0)
    sup = SuperTransformer(space, vocab=60, dropout=0.0)
    src, tgt = _batch()
    small = space.smallest()
    sup(src, tgt, small).sum().backward()
    fc1 = sup.full.encoder.layers[0].fc1.weight
    d, f = small["encoder_embed_dim"], small["encoder_ffn_embed_dim"][0]
    assert fc1.grad[:f, :d].abs().sum() > 0
    assert fc1.grad[f:].abs().sum() == 0 and fc1.grad[:, d:].abs().sum() == 0
    assert sup.full.decoder.layers[2].fc1.weight.grad is None  # the smallest decoder has one layer
    # two architectures read one tensor: a change to the shared weight changes both
    with torch.no_grad():
        w = front_slice(fc1, (f, d))
        assert w.data_ptr() == fc1.data_ptr()


def test_incremental_decoding_equals_teacher_forcing(space):
    torch.manual_seed(1)
    net = space.build(space.sample(np.random.default_rng(5)), SequenceToSequence(60, 60, 7, 5)).eval()
    src, tgt = _batch()
    full = net(src, tgt)
    memory, cache, steps = net.encode(src), None, []
    for t in range(tgt.shape[1]):
        logits, cache = net.step(tgt[:, t:t + 1], t, memory, cache)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-4, atol=1e-4)


def test_a_subtransformer_is_kept_and_exported_like_any_network(space, tmp_path):
    import onnx

    from engine.networks import Network, NetworkSpec, export_onnx, load_network, save_network

    problem = SequenceToSequence(60, 60, 6, 5)
    arch = space.sample(np.random.default_rng(4))
    net = space.build(arch, problem).eval()
    spec = NetworkSpec("space", {"space": "hat", "params": space.params(), "arch": arch})
    folder = save_network(net, Network(name="sub", spec=spec, problem=problem), tmp_path / "nets")
    _, again = load_network(folder)
    inputs = problem.example_inputs()
    torch.testing.assert_close(again.eval()(*inputs), net(*inputs))
    path = export_onnx(net, inputs, tmp_path / "sub.onnx", problem=problem)
    onnx.checker.check_model(onnx.load(str(path)))
