"""The registry refuses duplicates and bad names; techniques resolve their objectives."""
from __future__ import annotations

import pytest

from engine import ConfigBase, Summary, techniques
from engine.registry import Registry, Technique, register_technique


def _technique(name="test-technique", **kw) -> Technique:
    from engine.modelzoo import Config

    return Technique(name=name, title="t", summary="s", config_cls=Config, run=lambda c, h, r: Summary(), **kw)


def test_registry_refuses_a_duplicate_name_and_keeps_the_first():
    r: Registry[int] = Registry("thing")
    r.add("alpha-1", 1)
    with pytest.raises(ValueError, match="already registered"):
        r.add("alpha-1", 2)
    assert r._items["alpha-1"] == 1


@pytest.mark.parametrize("bad", ["Bad", "a", "has_underscore", "1abc", "x" * 60, ""])
def test_registry_refuses_names_that_are_not_slugs(bad):
    with pytest.raises(ValueError, match="slug"):
        Registry("thing").add(bad, 1)


def test_register_technique_refuses_a_registered_name():
    original = techniques.get("model-zoo")
    with pytest.raises(ValueError, match="already registered"):
        register_technique(_technique("model-zoo"))
    assert techniques.get("model-zoo") is original


def test_register_technique_refuses_a_bad_direction():
    with pytest.raises(ValueError, match="min"):
        register_technique(_technique(objectives={"latency_ms": "lowest"}))
    with pytest.raises(ValueError, match="min"):
        register_technique(_technique(fallback_objectives={"params": "smaller"}))
    assert "test-technique" not in techniques


def test_unknown_technique_lists_the_known_ones():
    with pytest.raises(KeyError, match="model-zoo"):
        techniques.get("no-such-technique")


def test_every_registered_technique_is_well_formed():
    names = techniques.names()
    assert names == sorted(names) and "model-zoo" in names
    for name, t in techniques.items():
        assert t.name == name
        assert issubclass(t.config_cls, ConfigBase)
        assert len(t.axes) == 2 and t.objectives
        assert set(t.objectives.values()) <= {"min", "max"}


def test_objectives_and_axes_fall_back_when_a_metric_is_missing():
    t = _technique(objectives={"latency_ms": "min", "accuracy": "max"}, axes=("latency_ms", "accuracy"),
                   fallback_objectives={"latency_ms": "min", "params": "min"}, fallback_axes=("latency_ms", "params"))
    assert t.objectives_for(["latency_ms", "accuracy", "params"]) == {"latency_ms": "min", "accuracy": "max"}
    assert t.objectives_for(["latency_ms", "params"]) == {"latency_ms": "min", "params": "min"}
    assert t.axes_for({"latency_ms", "accuracy"}) == ("latency_ms", "accuracy")
    assert t.axes_for({"latency_ms", "params"}) == ("latency_ms", "params")
    plain = _technique()  # no fallback: the declared objectives whatever is present
    assert plain.objectives_for(["latency_ms"]) == plain.objectives
    assert plain.axes_for(["latency_ms"]) == plain.axes
