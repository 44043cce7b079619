"""Uniform baselines, fitting the derived network to its target, and the blocks a profile cannot tell apart."""
import numpy as np
import pytest

from engine.hardware import get_profile
from engine.hardware.latency import latency_for
from engine.nas.baselines import best_at_latency, fit_to_target, indistinct_blocks, uniform_archs
from engine.nas.proxyless import ProxylessSuperNet, block_latency_table
from engine.nas.supernet_technique import space_from_config
from engine.problems import ImageClassification

TABLE = [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]


def test_over_the_target_the_cheapest_loss_of_likelihood_goes_first():
    probs = [[0.1, 0.1, 0.8], [0.05, 0.05, 0.9], [0.3, 0.3, 0.4]]
    idx = fit_to_target([2, 2, 2], probs, TABLE, fixed_ms=1.0, target_ms=8.0)
    total = 1.0 + sum(TABLE[s][c] for s, c in enumerate(idx))
    assert total <= 8.0
    assert idx[1] == 2  # the block that is surest of its op keeps it
    assert idx[2] < 2   # the least sure block gives way


def test_far_under_the_target_dearer_likely_ops_are_taken_back_without_passing_it():
    probs = [[0.5, 0.2, 0.3], [0.4, 0.35, 0.25], [0.6, 0.1, 0.3]]
    idx = fit_to_target([0, 0, 0], probs, TABLE, fixed_ms=0.0, target_ms=7.0, tolerance=0.1)
    total = sum(TABLE[s][c] for s, c in enumerate(idx))
    assert 7.0 * 0.9 <= total <= 7.0
    # already within the tolerance: nothing moves
    assert fit_to_target([1, 1, 1], probs, TABLE, fixed_ms=0.5, target_ms=7.0) == [1, 1, 1]


def test_uniform_grid_and_corners_and_width():
    space = space_from_config((8, 16), (16,), 16)
    grid = uniform_archs(space, 16, grid="grid")
    assert len(grid) == len(space.kernel_choices) * len(space.expand_choices) * 2
    corners = uniform_archs(space, 16, grid="corners", width_mults=(1.0, 0.5))
    assert len(corners) == 8 and {b.space.width_mult for b in corners} == {1.0, 0.5}
    narrow = next(b for b in corners if b.space.width_mult == 0.5)
    assert narrow.space.widths[-1] < space.widths[-1] and "width x0.5" in narrow.label
    assert uniform_archs(space, 16, grid="none") == []
    with pytest.raises(ValueError):
        uniform_archs(space, 16, grid="everything")


def test_best_at_equal_latency():
    rows = [(0.96, 1.2), (0.95, 0.9), (0.90, 0.5)]
    assert best_at_latency(1.0, rows) == (0.95, 0.9)
    assert best_at_latency(1.15, rows) == (0.96, 1.2)  # within the 5 % tolerance
    assert best_at_latency(0.4, rows) is None


def test_a_gpu_layer_that_cannot_fill_the_lanes_reaches_only_part_of_the_peak():
    import dataclasses

    from engine.hardware.cost import LayerCost
    from engine.hardware.latency.roofline import occupancy, roofline_layer_ms
    gpu = get_profile("nvidia-a100")
    cpu_like = dataclasses.replace(gpu, kind="accelerator")
    narrow = LayerCost("c", "conv", macs=10**9, params=0, input_elems=0, output_elems=gpu.cores // 4,
                       in_shape=(), out_shape=())
    wide = dataclasses.replace(narrow, output_elems=gpu.cores * 10)
    assert occupancy(narrow, gpu) == pytest.approx(0.25) and occupancy(wide, gpu) == 1.0
    assert occupancy(narrow, cpu_like) == 1.0
    assert roofline_layer_ms(narrow, gpu)[0] == pytest.approx(4 * roofline_layer_ms(narrow, cpu_like)[0])
    assert roofline_layer_ms(wide, gpu)[0] == pytest.approx(roofline_layer_ms(wide, cpu_like)[0])


def test_which_blocks_a_profile_cannot_tell_apart():
    """At batch 1 on small images the A100's per-layer launch overhead dwarfs every kernel/expand choice's
    work: the page says those blocks are indistinct. A Raspberry Pi tells them apart."""
    space = space_from_config((16, 24, 32, 48), (28,), 128)
    problem = ImageClassification(channels=1, size=28, classes=10)
    net = ProxylessSuperNet(space, 28, 10, 1)
    found = {}
    for name in ("nvidia-a100", "raspberry-pi-4"):
        est = latency_for(get_profile(name), space=space, problem=problem, source="roofline")
        ops = {op.key: op for op in space.all_ops(problem)}
        table, _ = block_latency_table(space, net, lambda k: est.op_ms(ops[k]), problem=problem)
        found[name] = indistinct_blocks(table, len(net.choices))
    assert len(found["nvidia-a100"]) == len(net.mixed) and found["raspberry-pi-4"] == []
    assert indistinct_blocks([[1.0, 1.01, 0.0], [1.0, 2.0, 0.0]], 2) == [0]
