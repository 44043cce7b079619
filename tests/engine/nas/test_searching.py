"""The MBConv space's vectorised operators (what the searches call) keep the
distributions of its one-architecture operators."""
import numpy as np
import pytest

from engine.spaces.mbconv import MBConvSpace

SPACE = MBConvSpace(widths=(8, 16, 24), strides=(1, 2, 2), resolutions=(12, 16, 20), stem_width=8, stem_stride=2,
                    head_width=16)


def _genes(arch):
    return SPACE._genome.genes([arch])[0]


def test_sample_is_valid_and_uniform():
    rng = np.random.default_rng(0)
    archs = SPACE.sample_many(rng, 3000)
    assert all(SPACE.validate(a) == a for a in archs)
    res = np.array([a["resolution"] for a in archs])
    kernels = np.array([a["kernels"] for a in archs]).ravel()
    for values, choices in ((res, SPACE.resolutions), (kernels, SPACE.kernel_choices)):
        freq = np.array([(values == c).mean() for c in choices])
        np.testing.assert_allclose(freq, 1 / len(choices), atol=0.03)


def test_sample_many_is_sample_repeated():
    assert SPACE.sample_many(np.random.default_rng(5), 20) == [SPACE.sample(r) for r in [np.random.default_rng(5)]
                                                               for _ in range(20)]


@pytest.mark.parametrize("prob", [0.0, 0.1, 1.0])
def test_mutation_rate(prob):
    rng = np.random.default_rng(1)
    parent = SPACE.sample(np.random.default_rng(2))
    g0 = _genes(parent)
    changed = np.mean([np.mean(_genes(c) != g0) for c in SPACE.mutate_many([parent] * 800, rng, prob)])
    # a resampled gene keeps its value with probability 1/len(choices) (3 choices everywhere here)
    assert changed == pytest.approx(prob * 2 / 3, abs=0.02)
    one = np.mean([np.mean(_genes(SPACE.mutate(parent, rng, prob)) != g0) for _ in range(400)])
    assert one == pytest.approx(prob * 2 / 3, abs=0.03)


def test_mutation_fills_inactive_slots():
    rng = np.random.default_rng(3)
    a = SPACE.validate({"resolution": 12, "depths": [2, 2, 2], "kernels": [3, 3, 0, 0] * 3,
                        "expands": [4, 4, 0, 0] * 3})
    child, = SPACE.mutate_many([a], rng, 0.0)
    assert SPACE.validate(child) == child and 0 not in child["kernels"]
    assert child["kernels"][:2] == [3, 3] and child["expands"][:2] == [4, 4]


def test_crossover_takes_each_gene_from_a_parent():
    rng = np.random.default_rng(4)
    a, b = SPACE.sample_many(rng, 2)
    ga, gb = _genes(a), _genes(b)
    from_a = []
    for c in SPACE.crossover_many([a] * 400, [b] * 400, rng):
        gc = _genes(c)
        assert np.all((gc == ga) | (gc == gb))
        from_a.append(np.mean(gc[ga != gb] == ga[ga != gb]))
    assert np.mean(from_a) == pytest.approx(0.5, abs=0.03)


def test_describe_renders_blocks_per_stage():
    a = SPACE.validate({"resolution": 16, "depths": [2, 3, 2], "kernels": [7, 5, 0, 0, 3, 5, 3, 3, 5, 7, 3, 3],
                        "expands": [4, 6, 0, 0, 3, 4, 3, 3, 6, 4, 3, 3]})
    assert SPACE.describe(a) == "16px k7e4 k5e6 | k3e3 k5e4 k3e3 | k5e6 k7e4"
    s = SPACE.structure(a)
    assert s["space"] == "mbconv" and len(s["blocks"]) == 7 and SPACE.describe(s) == SPACE.describe(a)
