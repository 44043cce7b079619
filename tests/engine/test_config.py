"""Config dataclasses: validation names every bad field, bounds, choices, coercion."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from engine.config import ConfigBase, ConfigError, field_specs, param, validate_value


@dataclass(frozen=True)
class Cfg(ConfigBase):
    n: int = param(3, help="a count", min=1, max=10)
    rate: float = param(0.5, help="a fraction", min=0.0, max=1.0)
    flag: bool = param(False, help="a switch")
    name: str = param("a", help="a choice", choices=("a", "b"))
    models: tuple[str, ...] = param(("x",), help="a multi-choice", choices=("x", "y", "z"), max_items=2)
    sizes: tuple[int, ...] = param((32,), help="a bounded list", min=16, max=64)

    def check(self) -> dict[str, str]:
        return {"n": "must be at least the number of sizes"} if self.n < len(self.sizes) else {}


def errors_of(data) -> dict[str, str]:
    with pytest.raises(ConfigError) as e:
        Cfg.from_dict(data)
    return e.value.errors


def test_defaults_and_missing_or_none_keys():
    assert Cfg.from_dict({}) == Cfg()
    assert Cfg.from_dict(None) == Cfg()
    assert Cfg.from_dict({"n": None}) == Cfg()


def test_every_bad_field_is_named_at_once():
    errs = errors_of({"n": 0, "rate": "abc", "flag": "maybe", "name": "c", "models": ["w"], "sizes": [8],
                      "zzz": 1})
    assert set(errs) == {"n", "rate", "flag", "name", "models", "sizes", "zzz"}
    assert "unknown setting" in errs["zzz"] and "models" in errs["zzz"]  # lists the known ones
    assert "item 1" in errs["models"] and "item 1" in errs["sizes"]
    # the exception's text names them too
    assert all(k in str(ConfigError(errs)) for k in errs)


@pytest.mark.parametrize("value,ok", [(1, True), (10, True), (0, False), (11, False), (-3, False)])
def test_int_bounds_are_inclusive(value, ok):
    if ok:
        assert Cfg.from_dict({"n": value}).n == value
    else:
        assert "n" in errors_of({"n": value})


def test_bound_messages_say_the_limit():
    assert "10" in errors_of({"n": 11})["n"]
    assert "1.0" in errors_of({"rate": 1.5})["rate"]


@pytest.mark.parametrize("text,expected", [("yes", True), ("true", True), ("1", True), ("on", True),
                                           ("no", False), ("0", False), ("off", False), ("False", False)])
def test_bool_from_strings(text, expected):
    assert Cfg.from_dict({"flag": text}).flag is expected


def test_int_and_float_from_strings_and_refusals():
    c = Cfg.from_dict({"n": " 7 ", "rate": "0.25", "sizes": "16, 32"})
    assert (c.n, c.rate, c.sizes) == (7, 0.25, (16, 32))
    assert Cfg.from_dict({"n": 4.0}).n == 4
    for bad in ("7.5", 7.5, True, "seven"):
        assert "n" in errors_of({"n": bad}), bad
    for bad in (True, "nan", float("inf"), "x"):
        assert "rate" in errors_of({"rate": bad}), bad
    assert "flag" in errors_of({"flag": 2})


def test_multi_choice_refuses_a_repeat_and_bounds_item_count():
    assert "item 2: 'x' is listed twice" in errors_of({"models": "x, x, y"})["models"]
    assert Cfg.from_dict({"models": "x, y"}).models == ("x", "y")
    assert Cfg.from_dict({"models": ["z"]}).models == ("z",)
    assert "at most 2" in errors_of({"models": ["x", "y", "z"]})["models"]
    assert "at least 1" in errors_of({"models": []})["models"]
    assert "at least 1" in errors_of({"models": ""})["models"]


def test_scalar_field_refuses_a_list_and_list_field_refuses_a_scalar():
    assert "single value" in errors_of({"n": [1, 2]})["n"]
    assert "list" in errors_of({"sizes": 32})["sizes"]


def test_cross_field_check_names_its_field():
    assert set(errors_of({"n": 1, "sizes": [16, 32]})) == {"n"}


def test_frozen_and_round_trip():
    c = Cfg.from_dict({"models": ["y", "x"], "sizes": [64], "flag": "on"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n = 5  # type: ignore[misc]
    assert Cfg.from_dict(c.to_dict()) == c


def test_json_schema_carries_bounds_and_choices():
    s = Cfg.json_schema()
    assert s["additionalProperties"] is False
    p = s["properties"]
    assert (p["n"]["minimum"], p["n"]["maximum"], p["n"]["default"]) == (1, 10, 3)
    assert p["models"]["type"] == "array" and p["models"]["items"]["enum"] == ["x", "y", "z"]
    assert p["models"]["maxItems"] == 2 and p["sizes"]["items"]["minimum"] == 16
    assert p["name"]["enum"] == ["a", "b"] and p["flag"]["type"] == "boolean"


def test_a_field_without_help_or_with_an_unsupported_type_is_refused():
    @dataclass(frozen=True)
    class NoHelp(ConfigBase):
        n: int = 3

    @dataclass(frozen=True)
    class BadType(ConfigBase):
        d: complex = param(1j, help="a complex number")

    with pytest.raises(TypeError, match="help"):
        field_specs(NoHelp)
    with pytest.raises(TypeError, match="unsupported"):
        field_specs(BadType)


def test_strict_takes_typed_values_only():
    """A JSON body is typed: "5" is text there, as a comma list is; a form's or the CLI's text is converted."""
    assert Cfg.from_dict({"n": "5"}).n == 5
    with pytest.raises(ConfigError, match="n: must be a whole number"):
        Cfg.from_dict({"n": "5"}, strict=True)
    with pytest.raises(ConfigError, match="must be a list"):
        Cfg.from_dict({"models": "x, y"}, strict=True)
    assert Cfg.from_dict({"n": 5, "models": ["x", "y"]}, strict=True).models == ("x", "y")


def test_text_with_a_lone_surrogate_or_a_nul_is_refused():
    spec = next(s for s in Cfg.specs() if s.name == "name")
    with pytest.raises(ValueError, match="surrogate"):
        validate_value(spec, "a\ud800")
    with pytest.raises(ValueError, match="NUL"):
        validate_value(spec, "a\x00")
