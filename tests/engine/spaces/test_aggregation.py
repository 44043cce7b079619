"""The aggregation space: the paper's parameter counts, the space contract
(sample / mutate / crossover, encoding, ops for lookup tables) and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.hardware.cost import profile_model
from engine.nn.aggregation import AggregationBlock, fetch_indices
from engine.problems import ImageClassification, SequenceToSequence
from engine.spaces import get_space
from engine.spaces.aggregation import (PAPER_PRESETS, PAPER_PROBLEM, SMALL_PRESETS, AggregationSpace, ArchError,
                                       paper_arch, preset_arch)

SMALL = ImageClassification(channels=1, size=16, classes=10)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(PAPER_PRESETS))
def test_paper_presets_match_the_papers_parameter_counts_within_3_percent(name):
    arch, paper = PAPER_PRESETS[name]
    model = AggregationSpace.paper().build(arch, PAPER_PROBLEM)  # CIFAR-100: 32x32x3 in, 100 classes
    assert abs(_params(model) / paper - 1) < 0.03, (name, _params(model), paper)


def test_sparse_block_reads_exponential_offsets_and_dense_reads_all():
    assert fetch_indices(5, "exp") == [4, 3, 1]        # offsets 1, 2, 4 back from the newest
    assert fetch_indices(9, "exp") == [8, 7, 5, 1]
    assert fetch_indices(4, "all") == [0, 1, 2, 3]
    sp = AggregationSpace()
    conn = sp.connectivity(paper_arch(16, 8, "concat-exp"))
    assert conn[0]["reads"][3] == [3, 2, 0] and len(conn[0]["reads"]) == 5
    # widths follow: a dense block piles up channels, a sparse one stays near log2(depth) parts
    dense = AggregationBlock(16, 12, 12, "concat-all", bottleneck=False)
    sparse = AggregationBlock(16, 12, 12, "concat-exp", bottleneck=False)
    summ = AggregationBlock(16, 12, 12, "sum-all", bottleneck=False)
    assert dense.out_channels == 16 + 12 * 12 and sparse.out_channels == 4 * 12 and summ.out_channels == 12
    x = torch.randn(2, 16, 8, 8)
    assert dense(x).shape == (2, 160, 8, 8) and sparse(x).shape == (2, 48, 8, 8) and summ(x).shape == (2, 12, 8, 8)


def test_sparsenet_parameters_grow_more_slowly_with_depth_than_densenet():
    sp = AggregationSpace.paper()
    growth = {}
    for rule in ("concat-all", "concat-exp"):
        p16, p28 = (_params(sp.build(paper_arch(d, 12, rule), SMALL)) for d in (16, 28))
        growth[rule] = p28 / p16
    assert growth["concat-exp"] < growth["concat-all"]


def test_sample_mutate_crossover_give_valid_architectures_that_build_and_encode():
    sp = get_space("aggregation")
    rng = np.random.default_rng(0)
    archs = sp.sample_many(rng, 12)
    assert all(sp.validate(a) == a for a in archs)
    kids = sp.mutate_many(archs, rng, 0.5) + sp.crossover_many(archs, archs[::-1], rng)
    assert all(sp.validate(a) == a for a in kids)
    assert sp.sample(np.random.default_rng(3)) == sp.sample_many(np.random.default_rng(3), 1)[0]
    enc = sp.encode_many(archs)
    assert enc.shape == (12, sp.encoding_size) and np.all(enc.sum(1) == 3 * 4 + 2)
    for a in archs[:4]:
        model = sp.build(a, SMALL)
        assert model(*sp.example_inputs(a, SMALL, batch=2)).shape == (2, 10)
    s = sp.structure(archs[0])
    assert s["space"] == "aggregation" and len(s["blocks"]) == 3 and sp.validate(s) == archs[0]
    assert "|" in sp.describe(archs[0])
    assert type(sp)(**sp.params()).params() == sp.params()


def test_ops_cover_the_network_and_all_ops_cover_every_architecture():
    sp = AggregationSpace(depths=(2, 3), growths=(4, 8), compressions=(0.5, 1.0))
    keys = {op.key for op in sp.all_ops(SMALL)}
    rng = np.random.default_rng(1)
    for a in sp.sample_many(rng, 40):
        assert set(sp.op_keys(a, SMALL)) <= keys
    a = paper_arch(10, 4, "sum-exp")  # 2 layers per block
    ops = sp.ops(a, SMALL)
    assert [o.key for o in ops] == sp.op_keys(a, SMALL)
    # the ops, run alone, hold the whole network's parameters and MACs
    total_params = total_macs = 0
    for op in ops:
        mod = sp.op_module(op)
        cost = profile_model(mod, op.example_inputs())
        total_params += cost.params
        total_macs += cost.macs
    net = sp.build(a, SMALL)
    cost = profile_model(net, sp.example_inputs(a, SMALL))
    assert total_params == cost.params and total_macs == cost.macs


def test_bad_input_names_the_field():
    with pytest.raises(ArchError, match="depth 41 does not fit the block layout"):
        paper_arch(41, 12, "concat-all")
    with pytest.raises(ArchError, match="depth 43 does not fit.*2 convolutions a layer"):
        paper_arch(43, 12, "concat-all", bottleneck=True)
    with pytest.raises(ArchError, match="rule 'concat-some'"):
        paper_arch(40, 12, "concat-some")
    sp = AggregationSpace()
    good = sp.sample(np.random.default_rng(0))
    with pytest.raises(ArchError, match=r"growths\[1\] = 300 \(growth rate\)"):
        sp.validate({**good, "growths": [8, 300, 8]})
    with pytest.raises(ArchError, match=r"rules\[0\] = 'mean' \(rule\)"):
        sp.validate({**good, "rules": ["mean", "sum-all", "sum-all"]})
    with pytest.raises(ArchError, match=r"depths\[2\] = 5 \(layers per block\)"):
        sp.validate({**good, "depths": [2, 2, 5]})
    with pytest.raises(ArchError, match="compressions must be a list of 2"):
        sp.validate({**good, "compressions": [0.5]})
    with pytest.raises(ValueError, match="growths must be growth rates from 1 to 256"):
        AggregationSpace(growths=(0, 8))
    with pytest.raises(ValueError, match="unknown rule"):
        AggregationSpace(rules=("concat-all", "median"))
    with pytest.raises(ValueError, match="builds networks for image-classification"):
        sp.build(good, SequenceToSequence(10, 10, 4, 4))
    with pytest.raises(ArchError, match="unknown preset"):
        preset_arch("densenet-41")


def test_small_presets_are_in_the_paper_space():
    sp = AggregationSpace.paper()
    for name in SMALL_PRESETS:
        sp.validate(preset_arch(name))


def test_lookup_table_and_roofline_price_the_space_like_mbconv():
    from engine.hardware import get_profile
    from engine.hardware.latency import latency_for
    from engine.hardware.lut.build import build_lut

    sp = AggregationSpace(depths=(1, 2), growths=(4,), rules=("concat-all", "sum-exp"), bottlenecks=(False,),
                          compressions=(1.0,))
    prob = ImageClassification(channels=1, size=8, classes=3)
    table = build_lut(sp, prob, warmup=0, repeats=1)
    assert table.covers(sp, prob)
    rng = np.random.default_rng(0)
    archs = sp.sample_many(rng, 6)
    lut = latency_for(get_profile("local-cpu"), space=sp, problem=prob, lut=table)
    ms = lut.estimate_ms_many(archs)
    assert lut.estimate(archs[0]).source == "lut" and np.all(ms > 0)
    roof = latency_for(get_profile("raspberry-pi-4"), space=sp, problem=prob)
    est = roof.estimate_ms_many(archs)
    assert roof.estimate(archs[0]).source == "roofline" and np.all(est > 0)
    # a built network is priced too (the space's own module: by its architecture)
    net = sp.build(archs[0], prob)
    assert roof.estimate(net, sp.example_inputs(archs[0], prob)).ms > 0
