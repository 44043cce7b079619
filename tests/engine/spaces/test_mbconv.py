"""The MBConv search space."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.problems import ImageClassification, SequenceToSequence
from engine.registry import spaces
from engine.spaces import ArchError, MBConvSpace


@pytest.fixture(scope="module")
def space():
    return MBConvSpace()


def test_registered():
    assert spaces.get("mbconv") is MBConvSpace


def test_sample_mutate_crossover_stay_valid(space):
    rng = np.random.default_rng(0)
    pop = [space.sample(rng) for _ in range(20)]
    for a, b in zip(pop, pop[1:]):
        for child in (space.mutate(a, rng, 0.3), space.crossover(a, b, rng)):
            assert space.validate(child) == child
            json.dumps(child)
            assert set(child) == {"resolution", "depths", "kernels", "expands"}
    m = space.mutate(pop[0], rng, 1.0)
    assert m != pop[0]
    assert space.mutate(pop[0], rng, 0.0) == space.validate(pop[0])


def test_encode_fixed_length_and_ignores_skipped_slots(space):
    rng = np.random.default_rng(1)
    a = space.sample(rng)
    a["depths"][0] = 2
    b = json.loads(json.dumps(a))
    b["kernels"][3] = 3 if a["kernels"][3] != 3 else 5  # slot 3 is skipped (stage 1 has depth 2)
    ea, eb = space.encode(a), space.encode(b)
    assert ea.shape == (space.encoding_size,) and np.array_equal(ea, eb)
    assert ea[3 * 6: 4 * 6].sum() == 0
    assert ea.sum() == 2 * sum(a["depths"]) + 1
    many = space.encode_many([a, b, space.sample(rng)])
    assert many.shape == (3, space.encoding_size)
    # the same network: one key; a change in an active slot: another key
    assert space.network_key(a) == space.network_key(b)
    c = json.loads(json.dumps(a))
    c["kernels"][1] = 3 if a["kernels"][1] != 3 else 5  # slot 1 is active
    assert space.network_key(c) != space.network_key(a)


def test_build_runs_for_sampled_archs(space):
    rng = np.random.default_rng(2)
    for _ in range(3):
        a = space.sample(rng)
        net = space.build(a, ImageClassification(channels=1, classes=7))
        out = net(torch.zeros(2, 1, a["resolution"], a["resolution"]))
        assert out.shape == (2, 7)
        assert len(net.blocks) == sum(a["depths"])
        ops = space.ops(a, ImageClassification(channels=1, classes=7))
        assert len(ops) == sum(a["depths"]) + 4  # stem, first block, blocks, Conv_1, Logits


def test_ops_are_in_all_ops_and_shapes_chain(space):
    keys = {op.key for op in space.all_ops(ImageClassification())}
    a = space.sample(np.random.default_rng(3))
    ops = space.ops(a, ImageClassification())
    assert {op.key for op in ops} <= keys
    for prev, nxt in zip(ops, ops[1:-1]):
        assert prev.attrs["out_size"] == nxt.attrs["in_size"] and prev.attrs["cout"] == nxt.attrs["cin"]
    assert ops[2].key.startswith("expanded_conv-input:") and "idskip:0" in ops[2].key


@pytest.mark.parametrize("bad, msg", [
    ({"resolution": 31}, "resolution"),
    ({"depths": [2, 2]}, "depths must be a list"),
    ({"depths": [5, 2, 2, 2, 2]}, "depths[0]"),
    ({"kernels": [4] * 20}, "kernels[0]"),
    ({"expands": [3] * 19}, "expands must be a list of 20"),
    ({"extra": 1}, "unknown architecture keys"),
])
def test_validate_explains(space, bad, msg):
    a = {**space.sample(np.random.default_rng(4)), **bad}
    with pytest.raises(ArchError) as e:
        space.validate(a)
    assert msg in str(e.value)


def test_width_multiplier_and_skipped_slot_zeros():
    s = MBConvSpace(width_mult=0.5)
    assert s.widths[0] == 16 and s.widths[-1] == 80
    a = s.sample(np.random.default_rng(5))
    a["depths"][1] = 2
    a["kernels"][s.max_depth + 3] = 0  # a zero in a skipped slot is allowed
    assert s.validate(a)["kernels"][s.max_depth + 3] == 0


def test_sample_many_is_valid_seeded_and_covers_every_choice(space):
    archs = space.sample_many(np.random.default_rng(3), 600)
    assert archs == space.sample_many(np.random.default_rng(3), 600)
    for a in archs[:50]:
        assert space.validate(a) == a
        json.dumps(a)
    assert {a["resolution"] for a in archs} == set(space.resolutions)
    assert {d for a in archs for d in a["depths"]} == set(space.depth_choices)
    assert {k for a in archs for k in a["kernels"]} == set(space.kernel_choices)
    assert {e for a in archs for e in a["expands"]} == set(space.expand_choices)
