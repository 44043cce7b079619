"""A tiny super-net: extraction, BN recalibration, checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.nn.elastic import ElasticDepthwiseConv
from engine.spaces.mbconv import MBConvSpace
from engine.supernet import (CheckpointError, MBConvSuperNet, largest_arch, list_checkpoints, load_checkpoint,
                             recalibrate_bn, save_checkpoint, smallest_arch)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    space = MBConvSpace(widths=(8, 16), strides=(1, 2), resolutions=(12, 16), stem_width=8, stem_stride=2,
                        head_width=16)
    n = MBConvSuperNet(space, num_classes=4, in_channels=1)
    rng = np.random.default_rng(0)
    n.train()
    with torch.no_grad():  # give every BN non-trivial statistics
        for _ in range(4):
            a = space.sample(rng)
            n.set_active(a)
            n(torch.randn(6, 1, a["resolution"], a["resolution"]))
        for m in n.modules():
            if isinstance(m, ElasticDepthwiseConv):
                for p in m.transforms.values():
                    p.add_(0.05 * torch.randn_like(p))
    n.eval()
    return n


def test_extract_matches_supernet_forward(net):
    rng = np.random.default_rng(1)
    for a in [largest_arch(net.space), smallest_arch(net.space)] + [net.space.sample(rng) for _ in range(4)]:
        net.set_active(a)
        x = torch.randn(3, 1, a["resolution"], a["resolution"])
        sub = net.extract(a).eval()
        torch.testing.assert_close(sub(x), net(x), rtol=0, atol=1e-6)
        built = net.space.build(a, net.problem)
        built.load_state_dict(sub.state_dict(), strict=True)  # same module tree as space.build
        torch.testing.assert_close(built.eval()(x), net(x), rtol=0, atol=1e-6)


def test_elastic_kernel_is_transformed_centre_crop():
    torch.manual_seed(0)
    conv = ElasticDepthwiseConv(4, (3, 5, 7))
    w = conv.weight
    # identity transforms: a small kernel is the centre crop of the large one
    torch.testing.assert_close(conv.kernel(5), w[:, :, 1:6, 1:6])
    torch.testing.assert_close(conv.kernel(3), w[:, :, 2:5, 2:5])
    with torch.no_grad():
        conv.transforms["5"].copy_(2 * torch.eye(25))
    torch.testing.assert_close(conv.kernel(5), 2 * w[:, :, 1:6, 1:6])
    torch.testing.assert_close(conv.kernel(3), 2 * w[:, :, 2:5, 2:5])  # 3x3 is cut from the transformed 5x5
    conv.kernel(3).sum().backward()
    assert conv.transforms["3"].grad is not None and conv.transforms["5"].grad is not None


def test_bn_recalibration_gives_batch_statistics(net):
    a = smallest_arch(net.space)
    sub = net.extract(a)
    xs = [torch.randn(8, 1, a["resolution"], a["resolution"]) * 3 + 1 for _ in range(3)]
    seen = recalibrate_bn(sub, xs)
    assert seen == 24 and not sub.training
    feats = sub.stem[0](torch.cat(xs))
    bn = sub.stem[1]
    torch.testing.assert_close(bn.running_mean, feats.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)


def test_checkpoint_round_trip(net, tmp_path):
    path = save_checkpoint(net, "tiny", meta={"dataset": "x", "largest_accuracy": 0.5}, root=tmp_path)
    assert path.suffix == ".safetensors"
    back, meta = load_checkpoint("tiny", root=tmp_path)
    assert meta["dataset"] == "x"
    for (k, v), (k2, v2) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert [c.name for c in list_checkpoints(tmp_path)] == ["tiny"]
    with pytest.raises(CheckpointError):
        load_checkpoint("missing", root=tmp_path)
    with pytest.raises(CheckpointError):
        save_checkpoint(net, "../escape", root=tmp_path)


def test_fold_bn_keeps_the_function(net):
    from engine.supernet import fold_bn

    rng = np.random.default_rng(2)
    for a in [largest_arch(net.space), net.space.sample(rng)]:
        sub = net.extract(a).eval()
        x = torch.randn(4, 1, a["resolution"], a["resolution"])
        with torch.no_grad():
            before = sub(x)
            folded = fold_bn(sub)
            assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
            torch.testing.assert_close(folded(x), before, rtol=1e-4, atol=1e-5)
