"""The vectorised MBConv operators agree with the space's own operators."""
import numpy as np
import pytest

from engine.nas.searching import MBConvOperators
from engine.spaces.mbconv import MBConvSpace

SPACE = MBConvSpace(widths=(8, 16, 24), strides=(1, 2, 2), resolutions=(12, 16, 20), stem_width=8, stem_stride=2,
                    head_width=16)


def _genes(ops, arch):
    return ops._genes(arch)


def test_sample_is_valid_and_uniform():
    ops, rng = MBConvOperators(SPACE), np.random.default_rng(0)
    archs = [ops.sample(rng) for _ in range(3000)]
    assert all(SPACE.validate(a) == a for a in archs)
    res = np.array([a["resolution"] for a in archs])
    kernels = np.array([a["kernels"] for a in archs]).ravel()
    for values, choices in ((res, SPACE.resolutions), (kernels, SPACE.kernel_choices)):
        freq = np.array([(values == c).mean() for c in choices])
        np.testing.assert_allclose(freq, 1 / len(choices), atol=0.03)


@pytest.mark.parametrize("prob", [0.0, 0.1, 1.0])
def test_mutation_rate(prob):
    ops, rng = MBConvOperators(SPACE), np.random.default_rng(1)
    parent = SPACE.sample(np.random.default_rng(2))
    g0 = _genes(ops, parent)
    changed = np.mean([np.mean(_genes(ops, ops.mutate(parent, rng, prob)) != g0) for _ in range(800)])
    # a resampled gene keeps its value with probability 1/len(choices) (3 choices everywhere here)
    assert changed == pytest.approx(prob * 2 / 3, abs=0.02)


def test_mutation_fills_inactive_slots():
    ops, rng = MBConvOperators(SPACE), np.random.default_rng(3)
    a = SPACE.validate({"resolution": 12, "depths": [2, 2, 2], "kernels": [3, 3, 0, 0] * 3,
                        "expands": [4, 4, 0, 0] * 3})
    child = ops.mutate(a, rng, 0.0)
    assert SPACE.validate(child) == child and 0 not in child["kernels"]
    assert child["kernels"][:2] == [3, 3] and child["expands"][:2] == [4, 4]


def test_crossover_takes_each_gene_from_a_parent():
    ops, rng = MBConvOperators(SPACE), np.random.default_rng(4)
    a, b = ops.sample(rng), ops.sample(rng)
    ga, gb = _genes(ops, a), _genes(ops, b)
    from_a = []
    for _ in range(400):
        gc = _genes(ops, ops.crossover(a, b, rng))
        assert np.all((gc == ga) | (gc == gb))
        from_a.append(np.mean(gc[ga != gb] == ga[ga != gb]))
    assert np.mean(from_a) == pytest.approx(0.5, abs=0.03)
