"""Problems: what a model eats and emits, with seeded example inputs."""
from __future__ import annotations

import pytest
import torch

from engine.problems import (PROBLEMS, ImageClassification, InputSpec, PoseForecast, SequenceToSequence,
                             VideoForecast, problem_from_dict)


def test_example_inputs_shapes_dtypes_and_seeded():
    img = ImageClassification(channels=1, size=28, classes=10)
    (x,) = img.example_inputs()
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert img.example_inputs(4, resolution=16)[0].shape == (4, 1, 16, 16)
    assert torch.equal(x, img.example_inputs()[0])  # the same tensors each time: repeatable measurements
    assert not torch.equal(x, img.example_inputs(seed=1)[0])
    src, tgt = SequenceToSequence(src_vocab=50, tgt_vocab=60, src_len=7, tgt_len=5).example_inputs(2)
    assert src.shape == (2, 7) and tgt.shape == (2, 5) and src.dtype == tgt.dtype == torch.int64
    assert int(src.max()) < 50 and int(tgt.max()) < 60 and int(src.min()) >= 0
    (poses,) = PoseForecast(people=3, joints=17, observed_frames=10, future_frames=5).example_inputs(2)
    assert poses.shape == (2, 3, 10, 17, 2) and poses.dtype == torch.float32
    (frames,) = VideoForecast(size=16, observed_frames=4, future_frames=2).example_inputs(2)
    assert frames.shape == (2, 4, 3, 16, 16)
    frames, poses = VideoForecast(size=16, observed_frames=4, future_frames=2, people=3).example_inputs(1)
    assert frames.shape == (1, 4, 3, 16, 16) and poses.shape == (1, 3, 6, 17, 2)


@pytest.mark.parametrize("problem", [ImageClassification(channels=1, size=28, classes=7),
                                     SequenceToSequence(100, 120, 30, 31),
                                     PoseForecast(people=2, joints=25, dims=3, observed_frames=8, future_frames=4),
                                     VideoForecast(size=32, observed_frames=5, future_frames=3, people=2)])
def test_round_trip(problem):
    d = problem.to_dict()
    assert d["kind"] in PROBLEMS and problem_from_dict(d) == problem
    assert hash(problem) == hash(problem_from_dict(d))


@pytest.mark.parametrize("data, message", [
    ({"kind": "translation"}, "unknown problem kind"),
    ([1], "not list"),
    ({"kind": "pose-forecast", "people": 1}, "needs joints, observed_frames, future_frames"),
    ({"kind": "image-classification", "colour": True}, "unknown fields"),
    ({"kind": "image-classification", "channels": 0}, "channels must be a whole number from 1"),
    ({"kind": "image-classification", "classes": 2.5}, "classes must be a whole number"),
    ({"kind": "sequence-to-sequence", "src_vocab": 1, "tgt_vocab": 9, "src_len": 3, "tgt_len": 3}, "src_vocab"),
])
def test_problem_from_dict_explains(data, message):
    with pytest.raises(ValueError, match=message):
        problem_from_dict(data)


def test_bounds_checked_on_construction_and_batch():
    with pytest.raises(ValueError, match="dims"):
        PoseForecast(people=1, joints=17, dims=4, observed_frames=2, future_frames=2)
    with pytest.raises(ValueError, match="batch"):
        ImageClassification().example_inputs(0)
    with pytest.raises(ValueError, match="high"):
        InputSpec((1, 4), "int64")
