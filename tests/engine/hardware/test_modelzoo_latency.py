"""Every built-in profile gives a latency, with its source, for every model-zoo network."""
from __future__ import annotations

import pytest

from engine.hardware import builtin_profiles, get_profile, latency_for, profile_model
from engine.problems import ImageClassification

zoo = pytest.importorskip("engine.modelzoo.zoo")


def test_every_profile_prices_every_zoo_network():
    problem = ImageClassification(size=32)
    inputs = problem.example_inputs()
    profiles = [p for p in builtin_profiles() if not p.measurable]  # measured: see test_latency_sources
    for name in sorted(zoo.MODELS):
        model = zoo.build_model(name, width=1.0, num_classes=10)
        cost = profile_model(model, inputs)
        ms = {}
        for prof in profiles:
            e = latency_for(prof, problem=problem, purpose="final").estimate_model(model, inputs, cost=cost)
            assert e.source == "roofline" and e.ms > 0, (name, prof.name)
            assert e.detail["layers"] > 0 and isinstance(e.detail["fits_memory"], bool)
            ms[prof.name] = e.ms
        assert ms["nvidia-a100"] < ms["raspberry-pi-4"] < ms["stm32f746"], name
    assert get_profile("stm32f746").memory_capacity_mb < 1
