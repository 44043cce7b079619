"""A space builds for a problem and refuses one it cannot serve."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.problems import ImageClassification, SequenceToSequence
from engine.spaces import MBConvSpace

TINY = dict(widths=(8,), strides=(2,), resolutions=(16, 24), stem_width=8, head_width=16, depths=(1, 2))


def test_example_inputs_follow_the_architecture_and_problem():
    space = MBConvSpace(**TINY)
    grey = ImageClassification(channels=1, size=99, classes=5)
    a = space.sample(np.random.default_rng(0))
    (x,) = space.example_inputs(a, grey)
    assert x.shape == (1, 1, a["resolution"], a["resolution"])  # the arch's resolution, not the problem's size
    assert torch.equal(x, space.example_inputs(a, grey)[0])
    assert space.build(a, grey)(x).shape == (1, 5)
    for op in space.ops(a, grey):
        (t,) = op.example_inputs()
        assert tuple(t.shape) == op.inputs[0].shape
        space.op_module(op).eval()(t)  # each op runs alone on its own inputs


def test_mbconv_rejects_other_problems_clearly():
    space = MBConvSpace(**TINY)
    a = space.sample(np.random.default_rng(0))
    seq = SequenceToSequence(100, 100, 8, 8)
    for call in (lambda: space.build(a, seq), lambda: space.ops(a, seq), lambda: space.all_ops(seq),
                 lambda: space.example_inputs(a, seq), lambda: space.op_keys(a, seq)):
        with pytest.raises(ValueError, match="image-classification, not sequence-to-sequence"):
            call()
    with pytest.raises(ValueError, match="needs a Problem"):
        space.build(a, 10)
