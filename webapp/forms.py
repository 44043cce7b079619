"""Forms. A technique's settings form is generated from its Config dataclass."""
from __future__ import annotations

from typing import Any

from django import forms

from engine import techniques
from engine.config import FieldSpec
from engine.hardware.profile import BOUNDS, KINDS, PRECISIONS

from .models import HardwareProfile

__all__ = ["config_form_class", "ExperimentForm", "HardwareProfileForm", "CONFIG_PREFIX"]

CONFIG_PREFIX = "cfg"


def _field(spec: FieldSpec) -> forms.Field:
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help, "required": False,
                              "initial": spec.default}
    if spec.file:
        exts = ".png, .jpg or .jpeg" if spec.file == "image" else ".safetensors"
        return forms.FileField(label=spec.label, required=False, help_text=f"{spec.help} (upload a {exts} file)",
                               widget=forms.ClearableFileInput(attrs={"accept": exts.replace(" or ", ", ")}))
    if spec.multiple and spec.choices is not None:
        return forms.MultipleChoiceField(choices=[(str(c), str(c)) for c in spec.choices],
                                         widget=forms.CheckboxSelectMultiple,
                                         **{**common, "initial": [str(c) for c in spec.default]})
    if spec.multiple:
        common["initial"] = ", ".join(map(str, spec.default))
        return forms.CharField(max_length=2000, **common)
    if spec.options is not None:  # values that exist now (e.g. trained checkpoints), listed when the form is built
        return forms.ChoiceField(choices=lambda: [(str(v), str(lab)) for v, lab in spec.options()], **common)
    if spec.choices is not None:
        return forms.TypedChoiceField(choices=[(str(c), str(c)) for c in spec.choices],
                                      **{**common, "initial": str(spec.default)})
    if spec.kind == "bool":
        return forms.BooleanField(**common)
    attrs = {}
    if spec.min is not None:
        attrs["min"] = spec.min
    if spec.max is not None:
        attrs["max"] = spec.max
    if spec.kind == "int":
        return forms.IntegerField(min_value=spec.min, max_value=spec.max, widget=forms.NumberInput(attrs=attrs),
                                  **common)
    if spec.kind == "float":
        attrs["step"] = "any"
        return forms.FloatField(min_value=spec.min, max_value=spec.max, widget=forms.NumberInput(attrs=attrs),
                                **common)
    return forms.CharField(max_length=spec.max_length, **common)


def config_form_class(technique: str) -> type[forms.Form]:
    """A Form with one field per Config field; ``cleaned_config()`` gives the
    dict for ``Config.from_dict`` (values left empty take the default)."""
    tech = techniques.get(technique)
    specs = tech.config_cls.specs()
    fields = {s.name: _field(s) for s in specs}

    def cleaned_config(self) -> dict[str, Any]:
        out = {}
        for s in specs:
            if s.file:  # stored by the view through services.upload_save
                continue
            v = self.cleaned_data.get(s.name)
            if v in (None, "", []) and s.kind != "bool":
                continue
            out[s.name] = v
        return out

    def uploaded_files(self) -> dict[str, tuple[Any, str]]:
        return {s.name: (self.cleaned_data[s.name], s.file) for s in specs
                if s.file and self.cleaned_data.get(s.name)}

    def basic_fields(self) -> list:
        return [self[s.name] for s in specs if not s.advanced]

    def advanced_fields(self) -> list:
        return [self[s.name] for s in specs if s.advanced]

    attrs: dict[str, Any] = {**fields, "cleaned_config": cleaned_config, "uploaded_files": uploaded_files,
                             "basic_fields": basic_fields, "advanced_fields": advanced_fields, "specs": specs}
    return type(f"{tech.config_cls.__name__}Form", (forms.Form,), attrs)


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Optional; shown in lists and plots.")
    technique = forms.ChoiceField(choices=())
    hardware = forms.ModelChoiceField(queryset=HardwareProfile.objects.all(), to_field_name="slug",
                                      empty_label=None, help_text="The target device latency and memory refer to.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technique"].choices = [(n, t.title) for n, t in techniques.items()]


class HardwareProfileForm(forms.Form):
    slug = forms.SlugField(max_length=60, help_text="Short name, e.g. my-pi-zero.")
    title = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=[(k, k) for k in KINDS])
    memory_bandwidth_gbs = forms.FloatField(label="Memory bandwidth (GB/s)", min_value=BOUNDS["memory_bandwidth_gbs"][0],
                                            max_value=BOUNDS["memory_bandwidth_gbs"][1])
    onchip_memory_kb = forms.FloatField(label="On-chip memory / cache (KiB)", min_value=0,
                                        max_value=BOUNDS["onchip_memory_kb"][1], initial=0)
    memory_capacity_mb = forms.FloatField(label="Memory capacity (MiB)", min_value=BOUNDS["memory_capacity_mb"][0],
                                          max_value=BOUNDS["memory_capacity_mb"][1])
    storage_mb = forms.FloatField(label="Storage / flash (MiB)", min_value=0, max_value=BOUNDS["storage_mb"][1],
                                  initial=0)
    layer_overhead_us = forms.FloatField(label="Per-layer overhead (µs)", min_value=0,
                                         max_value=BOUNDS["layer_overhead_us"][1], initial=10)
    cores = forms.IntegerField(min_value=1, max_value=int(BOUNDS["cores"][1]), initial=1)
    bit_flexible = forms.BooleanField(required=False, help_text="Throughput scales with weight x activation bits "
                                                                "(BitFusion-like).")
    source = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=4000,
                             help_text="Where the figures come from (datasheet, measurement).")
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=4000)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        lo, hi = BOUNDS["peak_gmacs"]
        for p in PRECISIONS:
            self.fields[f"peak_{p}"] = forms.FloatField(
                label=f"Peak {p} (GMAC/s)", min_value=lo, max_value=hi, required=(p == "fp32"))
        if editing:
            self.fields["slug"].disabled = True

    def profile_data(self) -> dict[str, Any]:
        d = {k: v for k, v in self.cleaned_data.items() if not k.startswith("peak_") and k != "slug"}
        d["peak_gmacs"] = {p: self.cleaned_data[f"peak_{p}"] for p in PRECISIONS
                           if self.cleaned_data.get(f"peak_{p}") is not None}
        return d

    @classmethod
    def initial_from(cls, hw: HardwareProfile) -> dict[str, Any]:
        init = {f: getattr(hw, f) for f in ("slug", "title", "kind", "memory_bandwidth_gbs", "onchip_memory_kb",
                                            "memory_capacity_mb", "storage_mb", "layer_overhead_us", "cores",
                                            "bit_flexible", "source", "notes")}
        for p, v in (hw.peak_gmacs or {}).items():
            init[f"peak_{p}"] = v
        return init
