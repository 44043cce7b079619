"""Every built-in profile gives a latency, with its source, for every model-zoo network."""
from __future__ import annotations

import pytest

from engine.hardware import builtin_profiles, get_profile, latency_of_model, profile_model

zoo = pytest.importorskip("engine.modelzoo.zoo")


def test_every_profile_prices_every_zoo_network():
    shape = (1, 3, 32, 32)
    profiles = [p for p in builtin_profiles() if not p.measurable]  # measured: see test_latency_sources
    for name in sorted(zoo.MODELS):
        model = zoo.build_model(name, width=1.0, num_classes=10)
        cost = profile_model(model, shape)
        ms = {}
        for prof in profiles:
            e = latency_of_model(model, shape, prof, cost=cost)
            assert e.source == "roofline" and e.ms > 0, (name, prof.name)
            assert e.detail["layers"] > 0 and isinstance(e.detail["fits_memory"], bool)
            ms[prof.name] = e.ms
        assert ms["nvidia-a100"] < ms["raspberry-pi-4"] < ms["stm32f746"], name
    assert get_profile("stm32f746").memory_capacity_mb < 1
