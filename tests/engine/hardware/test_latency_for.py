"""The one entry point (``latency_for``), problems in tables and measurement,
and lookup-table keys that carry a precision."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

import engine.hardware.latency.choose as choose
from engine.hardware import (LookupTable, LookupTableLatency, LutEntry, LutError, RooflineLatency, get_profile,
                             key_with_bits, latency_for, local_cpu_profile, measure_many, profile_model,
                             validate_lut_json)
from engine.hardware.latency import attached_table, cached_table_path
from engine.problems import ImageClassification, SequenceToSequence
from engine.spaces import MBConvSpace

TINY = dict(widths=(8,), strides=(2,), resolutions=(16,), stem_width=8, head_width=16, depths=(1, 2),
            kernels=(3,), expands=(3,))
GREY = ImageClassification(channels=1, size=16, classes=4)


@pytest.fixture(scope="module")
def space():
    return MBConvSpace(**TINY)


def _table(space, problem=GREY, bits=None, ms=0.1):
    entries = {key_with_bits(op.key, bits): LutEntry(mean=ms, median=ms) for op in space.all_ops(problem)}
    return LookupTable(entries, {"space": space.name, "space_params": space.params(), "problem": problem.to_dict()})


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src, self.tgt, self.out = nn.Embedding(50, 8), nn.Embedding(60, 8), nn.Linear(8, 60)

    def forward(self, src, tgt):
        return self.out(self.tgt(tgt) + self.src(src).mean(1, keepdim=True))


def test_cost_and_measurement_take_every_example_input():
    problem = SequenceToSequence(50, 60, 7, 5)
    inputs = problem.example_inputs()
    cost = profile_model(Seq2Seq(), inputs)
    assert cost.input_shapes == ((1, 7), (1, 5)) and cost.input_shape == (1, 7)
    assert cost.macs == 5 * 8 * 60
    m, = measure_many([(Seq2Seq(), inputs)], warmup=0, repeats=2, threads=1)
    assert m.median_ms > 0
    with pytest.raises(ValueError, match="example inputs"):
        measure_many([(nn.Identity(), (1, 4))])


def test_precision_keys_price_a_quantised_op(space):
    arch = space.sample(np.random.default_rng(0))
    key = space.op_keys(arch, GREY)[0]
    assert key_with_bits(key, None) == key_with_bits(key, (32, 32)) == key
    assert key_with_bits(key, (8, 8)) == key + "-bits:w8a8"
    fp32, int8 = _table(space, ms=0.4), _table(space, bits=(8, 8), ms=0.1)
    both = LookupTable({**fp32.entries, **int8.entries}, fp32.meta)
    again = validate_lut_json(json.dumps(both.to_json()))  # the validator accepts precision keys
    assert again.covers(space, GREY) and again.covers(space, GREY, bits=(8, 8)) and not fp32.covers(space, bits=(4, 4))
    n = len(space.op_keys(arch, GREY))
    assert LookupTableLatency(again, space).estimate(arch).ms == pytest.approx(0.4 * n)
    e = LookupTableLatency(again, space, bits=(8, 8)).estimate(arch)
    assert e.ms == pytest.approx(0.1 * n) and e.detail["bits"] == [8, 8]
    with pytest.raises(LutError, match="not an op key"):
        validate_lut_json({"entries": {key + "-bits:w8": {"mean": 1.0}}})


def test_table_meta_records_the_problem_and_old_tables_still_load(space):
    assert validate_lut_json(json.dumps(_table(space).to_json())).problem == GREY
    old = {"meta": {"num_classes": 4, "in_channels": 1}, "entries": _table(space).to_json()["entries"]}
    legacy = validate_lut_json(json.dumps(old))
    assert legacy.problem == ImageClassification(channels=1, classes=4) and legacy.covers(space)
    assert validate_lut_json({"entries": old["entries"]}).problem == ImageClassification()
    with pytest.raises(LutError, match="meta.problem: unknown problem kind"):
        validate_lut_json({"meta": {"problem": {"kind": "toaster"}}, "entries": old["entries"]})


def test_attached_table_is_parsed_once_and_serves_search_and_modules(space, monkeypatch):
    pi = dataclasses.replace(get_profile("raspberry-pi-4"), lookup_table=_table(space).to_json())
    calls = []
    monkeypatch.setattr(choose, "validate_lut_json", lambda raw: calls.append(1) or validate_lut_json(raw))
    est = latency_for(pi, space=space, problem=GREY)
    assert est.source == "lut" and latency_for(pi, space=space, problem=GREY, purpose="final").source == "lut"
    assert attached_table(pi) is est.table and len(calls) == 1
    arch = space.sample(np.random.default_rng(1))
    net = space.build(arch, GREY)
    inputs = space.example_inputs(arch, GREY)
    assert est.estimate(net, inputs).ms == pytest.approx(est.estimate(arch).ms)  # a network of the space: the table
    other = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU())
    e = est.estimate(other, inputs)  # any other module: the roofline
    assert e.source == "roofline" and e.ms > 0


def test_search_on_this_machine_builds_one_table_and_keeps_it(space, tmp_path):
    local = local_cpu_profile()
    est = latency_for(local, space=space, problem=GREY, cache_dir=tmp_path)
    path = cached_table_path(tmp_path, local, space, GREY)
    assert est.source == "lut" and path.is_file() and est.table.problem == GREY
    again = latency_for(local, space=space, problem=GREY, cache_dir=tmp_path)
    assert again.table.entries == est.table.entries  # read back, not measured again
    assert latency_for(local, space=space, problem=GREY, purpose="final").source == "measured"
    assert latency_for(local, space=space, problem=GREY, source="roofline").source == "roofline"


def test_forced_and_bad_choices_fail_clearly(space):
    pi = get_profile("raspberry-pi-4")
    with pytest.raises(ValueError, match="no lookup table for profile 'raspberry-pi-4'"):
        latency_for(pi, space=space, problem=GREY, source="lut")
    with pytest.raises(ValueError, match="purpose"):
        latency_for(pi, space=space, problem=GREY, purpose="fast")
    with pytest.raises(ValueError, match="image-classification, not sequence-to-sequence"):
        latency_for(pi, space=space, problem=SequenceToSequence(10, 10, 4, 4))


def test_roofline_prices_single_ops_publicly(space):
    roof = latency_for(get_profile("jetson-nano"), space=space, problem=GREY, source="roofline")
    assert isinstance(roof, RooflineLatency) and roof.prices_ops
    arch = space.sample(np.random.default_rng(2))
    assert sum(roof.op_ms(op) for op in space.ops(arch, GREY)) == pytest.approx(roof.estimate(arch).ms)
