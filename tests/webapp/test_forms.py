"""Forms generated from each technique's Config dataclass, and the hardware form."""
from __future__ import annotations

import pytest
from django import forms

from engine import ConfigError, techniques
from tests.webapp.test_services import TOY, toy  # noqa: F401  (fixture)
from webapp.forms import CONFIG_PREFIX, ExperimentForm, HardwareProfileForm, config_form_class

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("technique", techniques.names())
def test_config_form_has_one_field_per_config_field(technique):
    tech = techniques.get(technique)
    form = config_form_class(technique)(prefix=CONFIG_PREFIX)
    specs = tech.config_cls.specs()
    assert list(form.fields) == [s.name for s in specs]
    for s in specs:
        f = form.fields[s.name]
        assert f.label == s.label and s.help in f.help_text and not f.required
        if s.multiple and s.choices is not None:
            assert isinstance(f, forms.MultipleChoiceField)
            assert [c for c, _ in f.choices] == [str(c) for c in s.choices]
        elif s.choices is not None:
            assert isinstance(f, forms.ChoiceField) and f.initial == str(s.default)
        elif s.kind == "int" and not s.multiple:
            assert isinstance(f, forms.IntegerField) and f.min_value == s.min and f.max_value == s.max
        elif s.kind == "float" and not s.multiple:
            assert isinstance(f, forms.FloatField) and f.min_value == s.min and f.max_value == s.max
        elif s.kind == "bool":
            assert isinstance(f, forms.BooleanField)


def _post_initial(technique: str) -> dict:
    """What a browser posts when the user changes nothing in the settings form."""
    shown = config_form_class(technique)(prefix=CONFIG_PREFIX)
    data = {}
    for name, field in shown.fields.items():
        value = field.initial
        if isinstance(field, forms.BooleanField):
            if value:
                data[f"{CONFIG_PREFIX}-{name}"] = "on"
        else:
            data[f"{CONFIG_PREFIX}-{name}"] = value
    return data


def _parse(technique: str, data: dict):
    try:
        return techniques.get(technique).parse(data)
    except ConfigError as e:  # a default that needs something first (a checkpoint, an upload)
        return sorted(e.errors)


@pytest.mark.parametrize("technique", techniques.names())
def test_initial_values_round_trip(technique):
    """Posting the settings form unchanged gives the default config."""
    posted = config_form_class(technique)(_post_initial(technique), prefix=CONFIG_PREFIX)
    assert posted.is_valid(), posted.errors
    assert _parse(technique, posted.cleaned_config()) == _parse(technique, {})


@pytest.mark.parametrize("technique", techniques.names())
def test_empty_non_bool_fields_take_the_default(technique):
    specs = techniques.get(technique).config_cls.specs()
    data = {k: v for k, v in _post_initial(technique).items()
            if next(s for s in specs if f"{CONFIG_PREFIX}-{s.name}" == k).kind == "bool"}
    posted = config_form_class(technique)(data, prefix=CONFIG_PREFIX)
    assert posted.is_valid(), posted.errors
    assert not {s.name for s in specs if s.kind != "bool"} & set(posted.cleaned_config())


def test_toy_round_trip(toy):
    test_initial_values_round_trip(TOY)
    cleaned = config_form_class(TOY)({}, prefix=CONFIG_PREFIX)
    assert cleaned.is_valid() and cleaned.cleaned_config() == {"artifact": False}


def test_model_zoo_lists_and_choices():
    form = config_form_class("model-zoo")({"cfg-models": ["resnet18", "squeezenet1_1"], "cfg-widths": "1.0",
                                           "cfg-resolutions": "32,64", "cfg-train_epochs": "2"}, prefix="cfg")
    assert form.is_valid(), form.errors
    cfg = techniques.get("model-zoo").parse(form.cleaned_config())
    assert cfg.models == ("resnet18", "squeezenet1_1") and cfg.widths == (1.0,) and cfg.resolutions == (32, 64)
    with pytest.raises(ConfigError, match="listed twice"):  # a width given twice is a mistake to say, not to drop
        techniques.get("model-zoo").parse({**form.cleaned_config(), "widths": "1.0, 1.0"})
    assert cfg.train_epochs == 2
    bad = config_form_class("model-zoo")({"cfg-models": ["alexnet"], "cfg-train_epochs": "-1",
                                          "cfg-lr": "0"}, prefix="cfg")
    assert not bad.is_valid()
    assert set(bad.errors) == {"models", "train_epochs", "lr"}


def test_experiment_form_choices_come_from_the_registry(profiles, toy):
    form = ExperimentForm()
    assert [c for c, _ in form.fields["technique"].choices] == techniques.names()
    assert TOY in [c for c, _ in form.fields["technique"].choices]
    assert ExperimentForm({"technique": "model-zoo", "hardware": "jetson-nano"}).is_valid()
    bad = ExperimentForm({"technique": "alchemy", "hardware": "nowhere", "name": "x" * 201})
    assert not bad.is_valid() and set(bad.errors) == {"technique", "hardware", "name"}


class TestHardwareForm:
    GOOD = {"slug": "b1", "title": "Board", "kind": "cpu", "memory_bandwidth_gbs": "10", "onchip_memory_kb": "0",
            "memory_capacity_mb": "512", "storage_mb": "0", "layer_overhead_us": "5", "cores": "2",
            "peak_fp32": "12.5", "peak_int4": "100"}

    def test_profile_data(self):
        form = HardwareProfileForm(self.GOOD)
        assert form.is_valid(), form.errors
        d = form.profile_data()
        assert d["peak_gmacs"] == {"fp32": 12.5, "int4": 100.0}
        assert "slug" not in d and not any(k.startswith("peak_") and k != "peak_gmacs" for k in d)
        assert d["cores"] == 2 and d["bit_flexible"] is False

    @pytest.mark.parametrize("key,value", [("memory_bandwidth_gbs", "0"), ("memory_bandwidth_gbs", "1e9"),
                                           ("peak_fp32", ""), ("peak_fp16", "-1"), ("cores", "1.5"),
                                           ("slug", "white space"), ("kind", "toaster"), ("notes", "x" * 5001)])
    def test_bounds(self, key, value):
        form = HardwareProfileForm({**self.GOOD, key: value})
        assert not form.is_valid() and key in form.errors

    def test_editing_keeps_the_slug(self, profiles):
        hw = profiles["jetson-nano"]
        initial = HardwareProfileForm.initial_from(hw)
        assert initial["slug"] == "jetson-nano" and initial["peak_fp32"] == hw.peak_gmacs["fp32"]
        form = HardwareProfileForm({**self.GOOD, "slug": "other"}, editing=True, initial=initial)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["slug"] == "jetson-nano"


def test_hardware_form_is_generated_from_the_engine_profile():
    """One field per user-set field of engine.hardware.HardwareProfile (a
    number per precision for the peaks), labels and bounds from its metadata."""
    import dataclasses

    from engine.hardware.profile import BOUNDS, PRECISIONS
    from engine.hardware.profile import HardwareProfile as EngineProfile

    form = HardwareProfileForm()
    editable = [f.name for f in dataclasses.fields(EngineProfile) if f.metadata["editable"]]
    expected = ["slug", *[n for n in editable if n != "peak_gmacs"], *[f"peak_{p}" for p in PRECISIONS]]
    assert sorted(form.fields) == sorted(expected)
    assert "measurable" not in form.fields and "lookup_table" not in form.fields
    bw = form.fields["memory_bandwidth_gbs"]
    assert bw.label == "Memory bandwidth (GB/s)" and (bw.min_value, bw.max_value) == BOUNDS["memory_bandwidth_gbs"]
    assert form.fields["peak_fp32"].required and not form.fields["peak_int8"].required
    assert form.fields["cores"].initial == EngineProfile.__dataclass_fields__["cores"].default
    kinds = EngineProfile.__dataclass_fields__["kind"].metadata["choices"]
    assert [c for c, _ in form.fields["kind"].choices] == list(kinds)
    # a service's error on an engine field lands on the form field that shows it
    assert form.field_for("peak_gmacs") == "peak_fp32" and form.field_for("cores") == "cores"
    assert form.field_for("measurable") is None


def test_checkpoint_is_picked_from_the_trained_ones(tmp_path, monkeypatch):
    """The evolution form lists the super-nets in the cache (newest first), the
    newest by default, and refuses a name that is not there."""
    import torch

    from engine.spaces.mbconv import MBConvSpace
    from engine.supernet import MBConvSuperNet, save_checkpoint

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    field = lambda: config_form_class("evolution")(prefix=CONFIG_PREFIX).fields["checkpoint"]  # noqa: E731
    assert [v for v, _ in field().choices] == ["", "fresh-tiny"]
    torch.manual_seed(0)
    net = MBConvSuperNet(MBConvSpace(widths=(8,), strides=(1,), resolutions=(12,), stem_width=8, stem_stride=1,
                                     head_width=16), num_classes=2, in_channels=1)
    save_checkpoint(net, "mine", meta={"dataset": "digits", "largest_accuracy": 0.5}, root=tmp_path / "checkpoints")
    choices = field().choices
    assert [v for v, _ in choices] == ["", "mine", "fresh-tiny"]
    assert "mine (digits, largest sub-net 50.0%)" in choices[0][1] and field().initial == ""
    posted = config_form_class("evolution")({f"{CONFIG_PREFIX}-checkpoint": "nope"}, prefix=CONFIG_PREFIX)
    assert not posted.is_valid() and "checkpoint" in posted.errors
    posted = config_form_class("evolution")({f"{CONFIG_PREFIX}-checkpoint": "mine"}, prefix=CONFIG_PREFIX)
    assert posted.is_valid() and posted.cleaned_config()["checkpoint"] == "mine"


def test_fresh_tiny_is_never_the_newest(tmp_path, monkeypatch):
    import torch

    from engine.nas.evolution_technique import checkpoint_error
    from engine.spaces.mbconv import MBConvSpace
    from engine.supernet import MBConvSuperNet, save_checkpoint

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    net = MBConvSuperNet(MBConvSpace(widths=(8,), strides=(1,), resolutions=(12,), stem_width=8, stem_stride=1,
                                     head_width=16), num_classes=2, in_channels=1)
    save_checkpoint(net, "fresh-tiny", meta={"dataset": "digits"}, root=tmp_path / "checkpoints")
    assert "'supernet' technique first" in checkpoint_error("")  # only the throwaway exists
    save_checkpoint(net, "mine", meta={"dataset": "digits"}, root=tmp_path / "checkpoints")
    import os
    os.utime(tmp_path / "checkpoints" / "mine.safetensors", (1, 1))  # older than fresh-tiny
    choices = config_form_class("evolution")(prefix=CONFIG_PREFIX).fields["checkpoint"].choices
    assert [v for v, _ in choices] == ["", "mine", "fresh-tiny"] and "mine" in choices[0][1]
    assert checkpoint_error("") is None
