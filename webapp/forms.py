"""Forms. A technique's settings form is generated from its Config dataclass,
the hardware-profile form from the engine's HardwareProfile dataclass."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

from django import forms

from engine import techniques
from engine.config import FieldSpec
from engine.hardware.profile import HardwareProfile as EngineProfile

from .models import HardwareProfile

__all__ = ["config_form_class", "ExperimentForm", "HardwareProfileForm", "NetworkUploadForm", "CONFIG_PREFIX"]

CONFIG_PREFIX = "cfg"


def _field(spec: FieldSpec) -> forms.Field:
    common: dict[str, Any] = {"label": spec.label, "help_text": spec.help, "required": False,
                              "initial": spec.default}
    if spec.file:
        exts = {"image": ".png, .jpg or .jpeg", "npy": ".npy", "csv": ".csv",
                "corpus": ".zip, .tar.gz, .tgz or .tsv"}.get(spec.file, ".safetensors")
        return forms.FileField(label=spec.label, required=False, help_text=f"{spec.help} (upload a {exts} file)",
                               widget=forms.ClearableFileInput(attrs={"accept": exts.replace(" or ", ", ")}))
    if spec.multiple and spec.choices is not None:
        return forms.MultipleChoiceField(choices=[(str(c), str(c)) for c in spec.choices],
                                         widget=forms.CheckboxSelectMultiple,
                                         **{**common, "initial": [str(c) for c in spec.default]})
    if spec.multiple:
        common["initial"] = ", ".join(map(str, spec.default))
        return forms.CharField(max_length=2000, **common)
    if spec.network is not None:  # the user's saved networks of the kinds it takes, set when the form is made
        return forms.ChoiceField(choices=[("", "— none —")], **{
            **common, "initial": "", "help_text": f"{spec.help} (your saved networks of kind "
                                                  f"{' or '.join(spec.network)}; see Networks)"})
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
            if s.file or s.name not in self.fields:  # files: stored by the view through services.upload_save
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
        return [self[s.name] for s in specs if not s.advanced and s.name in self.fields]

    def advanced_fields(self) -> list:
        return [self[s.name] for s in specs if s.advanced and s.name in self.fields]

    def clean(self) -> dict[str, Any]:
        """A posted ``<prefix>-<name>`` that is no setting of this technique is an error, never dropped."""
        cleaned = forms.Form.clean(self)
        if self.prefix and self.is_bound:
            start = f"{self.prefix}-"
            known = {self.add_prefix(n) for n in self.fields}
            known |= {self.add_prefix(f"{s.name}-clear") for s in specs if s.file}  # ClearableFileInput's box
            unknown = sorted({k for k in [*self.data.keys(), *self.files.keys()] if k.startswith(start)} - known)
            if unknown:
                names = ", ".join(k[len(start):][:60] for k in unknown[:10])
                raise forms.ValidationError(f"Unknown setting{'s' if len(unknown) > 1 else ''} of {tech.name}: "
                                            f"{names}. Its settings are: {', '.join(self.fields)}.")
        return cleaned

    def __init__(self, *args, user=None, **kwargs):
        forms.Form.__init__(self, *args, **kwargs)
        for s in specs:
            if s.network is not None:
                from .selectors import network_choices

                mine = network_choices(user, s.network) if user is not None and user.is_authenticated else []
                self.fields[s.name].choices = [("", "— none (the default) —"), *mine]

    attrs: dict[str, Any] = {**fields, "__init__": __init__, "clean": clean, "cleaned_config": cleaned_config, "uploaded_files": uploaded_files,
                             "basic_fields": basic_fields, "advanced_fields": advanced_fields, "specs": specs}
    return type(f"{tech.config_cls.__name__}Form", (forms.Form,), attrs)


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="Optional; shown in lists and plots.")
    technique = forms.ChoiceField(choices=())
    hardware = forms.ModelChoiceField(queryset=HardwareProfile.objects.all(), to_field_name="slug",
                                      empty_label=None, help_text="The target device latency and memory refer to.")
    shared = forms.BooleanField(required=False, label="Shared with everyone signed in",
                                help_text="Otherwise only you (and staff) see it; you can change it later.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["technique"].choices = [(n, t.title) for n, t in techniques.items()]


def _key_field(f: dataclasses.Field, key: str) -> str:
    """The form field of one key of a per-precision mapping: ``peak_gmacs``'s
    ``fp32`` is ``peak_fp32`` (the field name without its unit suffix)."""
    return f"{f.name.rsplit('_', 1)[0]}_{key}"


def _profile_field(f: dataclasses.Field, tp: Any) -> dict[str, forms.Field]:
    """The form field(s) of one field of the engine's HardwareProfile, from its
    metadata; a per-precision mapping becomes one number per key."""
    m = f.metadata
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    label = f"{m['label']} ({m['unit']})" if m["unit"] else m["label"]
    common: dict[str, Any] = {"label": label, "help_text": m["help"]}
    if m["keys"]:
        return {_key_field(f, k): forms.FloatField(label=f"{m['label']} {k} ({m['unit']})", min_value=m["min"],
                                                   max_value=m["max"], required=k in m["required_keys"])
                for k in m["keys"]}
    if m["choices"]:
        return {f.name: forms.ChoiceField(choices=[(c, c) for c in m["choices"]], initial=f.default, **common)}
    if tp is bool:
        return {f.name: forms.BooleanField(required=False, initial=f.default, **common)}
    if tp is int:
        return {f.name: forms.IntegerField(min_value=m["min"], max_value=m["max"], initial=f.default, **common)}
    if tp is float:
        return {f.name: forms.FloatField(min_value=m["min"], max_value=m["max"], initial=f.default, **common)}
    widget = forms.Textarea(attrs={"rows": 2}) if (m["max_length"] or 0) > 200 else None
    return {f.name: forms.CharField(max_length=m["max_length"], required=not has_default, widget=widget, **common)}


#: the engine profile's fields a user sets, in the dataclass's order
_PROFILE_FIELDS = [f for f in dataclasses.fields(EngineProfile) if f.metadata["editable"]]
_PROFILE_HINTS = typing.get_type_hints(EngineProfile)


class HardwareProfileForm(forms.Form):
    """Generated from the engine's HardwareProfile fields (as a settings form
    is from a Config); the slug is the webapp's name for a profile."""

    slug = forms.SlugField(max_length=60, help_text="Short name, e.g. my-pi-zero.")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        for f in _PROFILE_FIELDS:
            self.fields.update(_profile_field(f, _PROFILE_HINTS[f.name]))
        if editing:
            self.fields["slug"].disabled = True

    def field_for(self, name: str) -> str | None:
        """The form field showing an error on the engine profile's field
        ``name`` (a per-precision mapping's: its first required key); None
        when the form has none."""
        f = next((f for f in _PROFILE_FIELDS if f.name == name and f.metadata["keys"]), None)
        if f is not None:
            return _key_field(f, (f.metadata["required_keys"] or f.metadata["keys"])[0])
        return name if name in self.fields else None

    def profile_data(self) -> dict[str, Any]:
        """The cleaned values as the engine profile's fields (without the slug)."""
        d: dict[str, Any] = {}
        for f in _PROFILE_FIELDS:
            if f.metadata["keys"]:
                d[f.name] = {k: self.cleaned_data[_key_field(f, k)] for k in f.metadata["keys"]
                             if self.cleaned_data.get(_key_field(f, k)) is not None}
            else:
                d[f.name] = self.cleaned_data[f.name]
        return d

    @classmethod
    def initial_from(cls, hw: HardwareProfile) -> dict[str, Any]:
        init: dict[str, Any] = {"slug": hw.slug}
        for f in _PROFILE_FIELDS:
            if f.metadata["keys"]:
                init.update({_key_field(f, k): v for k, v in (getattr(hw, f.name) or {}).items()})
            else:
                init[f.name] = getattr(hw, f.name)
        return init


class NetworkUploadForm(forms.Form):
    """A user's own network: a torchvision architecture and a safetensors state dict
    (the service validates every field; these bounds make the form say so first)."""

    name = forms.CharField(max_length=200)
    architecture = forms.ChoiceField(choices=(), help_text="The torchvision architecture the weights are of")
    width = forms.FloatField(initial=1.0, min_value=0.25, max_value=2.0,
                             help_text="Width multiplier (mobilenet_v2 width_mult; 1.0 for a stock network)")
    classes = forms.IntegerField(initial=10, min_value=1, max_value=100_000, help_text="Classes of its classifier")
    resolution = forms.IntegerField(initial=32, min_value=16, max_value=1024,
                                    help_text="Input resolution it was trained at (pixels, square, 3 channels)")
    dataset = forms.ChoiceField(choices=(), required=False, help_text="The dataset it was trained on, if one of ours")
    weights = forms.FileField(help_text="Its state_dict saved with safetensors (safetensors.torch.save_file)",
                              widget=forms.ClearableFileInput(attrs={"accept": ".safetensors"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from engine.data import DATASETS

        from .services.networks import UPLOAD_ARCHITECTURES

        self.fields["architecture"].choices = [(a, a) for a in UPLOAD_ARCHITECTURES]
        self.fields["dataset"].choices = [("", "— not one of these —"), *((d, d) for d in DATASETS)]
