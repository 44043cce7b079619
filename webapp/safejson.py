"""JSON from users, parsed safely: a nesting limit (a body nested 5,000 deep
must not reach Python's recursion limit), no NUL characters in any text
(PostgreSQL refuses them in text and jsonb), no lone surrogates ("\\ud800":
not UTF-8, SQLite's driver cannot encode them), no integer literal longer than
:data:`MAX_INT_DIGITS` digits (Python refuses to convert 4,300 and more with a
bare ValueError) and no NaN / Infinity (not JSON; PostgreSQL's jsonb refuses
them too). One place for API bodies, uploaded lookup tables and anything else
a user sends as JSON; every refusal is an :class:`UnsafeJSON` naming where."""
from __future__ import annotations

import json
from typing import Any

__all__ = ["UnsafeJSON", "MAX_DEPTH", "MAX_INT_DIGITS", "loads", "check", "has_nul", "text_problem"]

#: the deepest nesting accepted (a lookup table or a technique's config needs a handful)
MAX_DEPTH = 64
#: the longest integer literal accepted (every bounded field fits in far fewer; 2**64 has 20 digits)
MAX_INT_DIGITS = 40


class UnsafeJSON(ValueError):
    """JSON that cannot be taken: ``message`` says why, ``path`` where (dotted)."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


def has_nul(text: str) -> bool:
    return "\x00" in text


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL, a lone surrogate), else None."""
    if has_nul(text):
        return "text holds a NUL character (\\u0000)"
    if _has_surrogate(text):
        return "text holds a lone surrogate (\\ud800-\\udfff): not UTF-8"
    return None


class _LongInt:
    """An integer literal too long to convert: kept as its digit count, so that
    :func:`check` can name where it stands."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(literal: str) -> Any:
    digits = len(literal.lstrip("-"))
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(literal)


def _no_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not a JSON number")


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data``; raise :class:`UnsafeJSON` (a ``ValueError``) naming the problem."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJSON("not UTF-8 text") from None
    try:
        obj = json.loads(data, parse_constant=_no_constant, parse_int=_parse_int)
    except UnsafeJSON:
        raise
    except RecursionError:  # the C scanner stops at Python's recursion limit; check() at max_depth
        raise UnsafeJSON(f"nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as e:
        raise UnsafeJSON(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except ValueError as e:  # anything else the decoder refuses: a 400 all the same, never a 500
        raise UnsafeJSON(f"not valid JSON: {str(e)[:120]}") from None
    check(obj, max_depth=max_depth)
    return obj


def check(obj: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed document without recursion: nesting within ``max_depth``,
    no NUL or lone surrogate in any key or text, no over-long integer, no NaN
    or infinite numbers."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > max_depth:
                raise UnsafeJSON(f"nested more than {max_depth} levels deep", path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and (why := text_problem(k)):
                    raise UnsafeJSON(why.replace("text holds", "a key holds"), path)
                stack.append((v, depth + 1, f"{path}.{k}" if path else str(k)))
        elif isinstance(value, str):
            if why := text_problem(value):
                raise UnsafeJSON(why, path)
        elif isinstance(value, _LongInt):
            raise UnsafeJSON(f"an integer of {value.digits:,} digits (at most {MAX_INT_DIGITS})", path)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_INT_DIGITS:
            raise UnsafeJSON(f"an integer of over {MAX_INT_DIGITS} digits", path)
        elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise UnsafeJSON("NaN and Infinity are not JSON numbers", path)
