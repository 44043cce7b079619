"""Technique configuration: frozen dataclasses whose fields carry their own
default, help text, bounds and choices.

Forms, DRF serializers, CLI flags and the JSON schema are all generated from
:func:`field_specs`, so nobody writes a per-technique form.

    @dataclass(frozen=True)
    class Config(ConfigBase):
        epochs: int = param(3, help="Training epochs", min=1, max=100)
        models: tuple[str, ...] = param(("resnet18",), help="...", choices=(...))
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

__all__ = ["ConfigBase", "ConfigError", "FieldSpec", "param", "field_specs", "FILE_KINDS"]

_MISSING = dataclasses.MISSING
#: kinds of user file a str field may name (see ``param(file=...)``)
FILE_KINDS = ("image", "safetensors", "npy", "csv", "corpus")


class ConfigError(ValueError):
    """Raised with one message per bad field: ``errors = {field: message}``."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def param(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple | None = None,
    label: str | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    max_length: int = 200,
    advanced: bool = False,
    file: str | None = None,
    options: Callable[[], list[tuple[str, str]]] | None = None,
    network: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its metadata. ``choices`` on a tuple field makes
    it a multi-choice; ``min``/``max`` on a tuple field bound each item.
    ``file`` ("image", "safetensors", "npy", "csv" or "corpus": a parallel text corpus) marks a str field holding a path to a
    user's file: the dashboard shows an upload and stores the file itself.
    ``options`` on a str field lists, when called, the values that exist now as
    (value, label) pairs (e.g. trained checkpoints): the dashboard offers them
    in a drop-down; the config's own ``validate`` still decides what is valid.
    ``network`` (problem kinds, e.g. ``("image-classification",)``) on a str
    field makes it a saved network (:mod:`engine.networks`): a folder path on
    the CLI, a drop-down of the user's networks of those kinds in the form and
    the network's id in the API; "" means none (the technique's default)."""
    if file is not None and file not in FILE_KINDS:
        raise ValueError(f"file must be one of {FILE_KINDS}")
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "label": label,
        "min_items": min_items,
        "max_items": max_items,
        "max_length": max_length,
        "advanced": advanced,
        "file": file,
        "options": options,
        "network": tuple(network) if network is not None else None,
    }
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """Everything a form, serializer or CLI flag needs to know about a field."""

    name: str
    kind: str  # "int" | "float" | "bool" | "str"
    multiple: bool
    default: Any
    help: str
    label: str
    min: float | None
    max: float | None
    choices: tuple | None
    min_items: int | None
    max_items: int | None
    max_length: int
    advanced: bool
    file: str | None = None
    options: Callable[[], list[tuple[str, str]]] | None = None
    network: tuple[str, ...] | None = None

    def describe_bounds(self) -> str:
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(map(str, self.choices)) if not self.multiple
                         else "any of " + ", ".join(map(str, self.choices)))
        if self.min is not None and self.max is not None:
            parts.append(f"{self.min} to {self.max}")
        elif self.min is not None:
            parts.append(f">= {self.min}")
        elif self.max is not None:
            parts.append(f"<= {self.max}")
        return "; ".join(parts)


_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}


def _resolve_type(cls: type, f: dataclasses.Field) -> tuple[str, bool]:
    hints = typing.get_type_hints(cls)
    tp = hints[f.name]
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(args) != 1 or args[0] not in _KINDS:
            raise TypeError(f"{cls.__name__}.{f.name}: tuple fields must be tuple[T, ...]")
        return _KINDS[args[0]], True
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{cls.__name__}.{f.name}: optional fields are not supported; use a sentinel")
    if tp not in _KINDS:
        raise TypeError(f"{cls.__name__}.{f.name}: unsupported type {tp!r}")
    return _KINDS[tp], False


def field_specs(cls: type) -> list[FieldSpec]:
    specs = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        kind, multiple = _resolve_type(cls, f)
        m = f.metadata
        if "help" not in m:
            raise TypeError(f"{cls.__name__}.{f.name} has no help text; declare it with param()")
        default = f.default if f.default is not _MISSING else f.default_factory()  # type: ignore[misc]
        specs.append(FieldSpec(
            name=f.name, kind=kind, multiple=multiple, default=default, help=m["help"],
            label=m.get("label") or f.name.replace("_", " ").capitalize(),
            min=m.get("min"), max=m.get("max"), choices=m.get("choices"),
            min_items=m.get("min_items"), max_items=m.get("max_items"),
            max_length=m.get("max_length", 200), advanced=m.get("advanced", False), file=m.get("file"),
            options=m.get("options"), network=m.get("network"),
        ))
    return specs


_JSON_TYPES = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


def _typed_as_json(spec: FieldSpec, value: Any) -> bool:
    """Whether ``value`` already has the field's JSON type (``strict``: no text for a number)."""
    if spec.kind == "bool":
        return isinstance(value, bool)
    if spec.kind == "int":
        return not isinstance(value, bool) and (isinstance(value, int)
                                                 or (isinstance(value, float) and value.is_integer()))
    if spec.kind == "float":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    return isinstance(value, str)


def _coerce_scalar(spec: FieldSpec, value: Any, strict: bool = False) -> Any:
    """Turn one value (possibly a string from a form or CLI) into the field's type;
    ``strict`` (typed input such as a JSON body) takes no text for a number or a flag."""
    if strict and not _typed_as_json(spec, value):
        raise ValueError(f"must be {_JSON_TYPES[spec.kind]} (got {type(value).__name__} {str(value)[:40]!r})")
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError("must be true or false")
    if spec.kind == "int":
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ValueError("must be a whole number")
    if spec.kind == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            out = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError("must be a number") from None
        if not math.isfinite(out):
            raise ValueError("must be a finite number")
        return out
    if not isinstance(value, str):
        raise ValueError("must be text")
    if "\x00" in value:
        raise ValueError("text may not hold a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text holds a lone surrogate: not UTF-8") from None
    value = value.strip()
    if len(value) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters")
    return value


def _check_scalar(spec: FieldSpec, value: Any) -> None:
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{value!r} is not one of: " + ", ".join(map(str, spec.choices)))
    if spec.kind in ("int", "float"):
        if spec.min is not None and value < spec.min:
            raise ValueError(f"must be at least {spec.min} (got {value})")
        if spec.max is not None and value > spec.max:
            raise ValueError(f"must be at most {spec.max} (got {value})")


def validate_value(spec: FieldSpec, value: Any, *, strict: bool = False) -> Any:
    """Coerce and bound-check one field; raises ValueError with a message.
    ``strict``: the value comes typed (a JSON body), so text is no number and a
    list is no comma-separated text. A value listed twice is refused either way."""
    if not spec.multiple:
        if isinstance(value, (list, tuple)):
            raise ValueError("must be a single value, not a list")
        out = _coerce_scalar(spec, value, strict)
        _check_scalar(spec, out)
        return out
    if strict and not isinstance(value, (list, tuple)):
        raise ValueError(f"must be a list (got {type(value).__name__})")
    if isinstance(value, str):
        items = [v for v in (p.strip() for p in value.split(",")) if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError("must be a list")
    coerced = []
    for i, item in enumerate(items):
        try:
            v = _coerce_scalar(spec, item, strict)
            _check_scalar(spec, v)
        except ValueError as e:
            raise ValueError(f"item {i + 1}: {e}") from None
        if v in coerced:
            raise ValueError(f"item {i + 1}: {v!r} is listed twice")
        coerced.append(v)
    lo = spec.min_items if spec.min_items is not None else 1
    if len(coerced) < lo:
        raise ValueError(f"choose at least {lo}")
    if spec.max_items is not None and len(coerced) > spec.max_items:
        raise ValueError(f"choose at most {spec.max_items}")
    return tuple(coerced)


class ConfigBase:
    """Mixin for a technique's frozen Config dataclass."""

    #: Cross-field rules: a subclass may override ``check`` and return
    #: ``{field: message}`` for combinations that are invalid.
    _specs_cache: ClassVar[dict[type, list[FieldSpec]]] = {}

    @classmethod
    def specs(cls) -> list[FieldSpec]:
        if cls not in ConfigBase._specs_cache:
            ConfigBase._specs_cache[cls] = field_specs(cls)
        return ConfigBase._specs_cache[cls]

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, strict: bool = False) -> "ConfigBase":
        """Validate ``data`` (missing keys take defaults) and build a Config.
        ``strict``: ``data`` is typed (a JSON body): "5" is no number there.

        Raises :class:`ConfigError` naming every bad or unknown field.
        """
        data = dict(data or {})
        if not isinstance(data, dict):
            raise ConfigError({"config": "must be an object"})
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        specs = {s.name: s for s in cls.specs()}
        for key in data:
            if key not in specs:
                errors[key] = "unknown setting (known: " + ", ".join(specs) + ")"
        for name, spec in specs.items():
            if name not in data or data[name] is None:
                continue
            try:
                values[name] = validate_value(spec, data[name], strict=strict)
            except ValueError as e:
                errors[name] = str(e)
        if errors:
            raise ConfigError(errors)
        obj = cls(**values)  # type: ignore[call-arg]
        extra = obj.check()
        if extra:
            raise ConfigError(extra)
        return obj

    def check(self) -> dict[str, str]:
        """Cross-field validation hook; return ``{field: message}``."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for s in cls.specs():
            base: dict[str, Any] = {"int": {"type": "integer"}, "float": {"type": "number"},
                                    "bool": {"type": "boolean"}, "str": {"type": "string"}}[s.kind]
            base = dict(base)
            if s.choices is not None:
                base["enum"] = list(s.choices)
            if s.min is not None:
                base["minimum"] = s.min
            if s.max is not None:
                base["maximum"] = s.max
            if s.kind == "str":
                base["maxLength"] = s.max_length
            if s.multiple:
                prop: dict[str, Any] = {"type": "array", "items": base, "uniqueItems": True,
                                        "minItems": s.min_items if s.min_items is not None else 1}
                if s.max_items is not None:
                    prop["maxItems"] = s.max_items
                prop["default"] = list(s.default)
            else:
                prop = dict(base)
                prop["default"] = s.default
            if s.file:
                prop["x-file"] = s.file  # upload the file first (POST /api/uploads/), then pass its path
            if s.network:
                # the dashboard's API takes a saved network's id (GET /api/networks/); the CLI a network folder
                prop = {"type": ["integer", "string"], "default": s.default, "x-network": list(s.network)}
            prop["title"] = s.label
            prop["description"] = s.help
            props[s.name] = prop
        return {"type": "object", "title": cls.__name__, "properties": props,
                "additionalProperties": False}
