"""JSON from users, parsed safely: a nesting limit (a body nested 5,000 deep
must not reach Python's recursion limit), no NUL characters in any text
(PostgreSQL refuses them in text and jsonb), and no NaN / Infinity (not JSON;
PostgreSQL's jsonb refuses them too). One place for API bodies, uploaded
lookup tables and anything else a user sends as JSON."""
from __future__ import annotations

import json
from typing import Any

__all__ = ["UnsafeJSON", "MAX_DEPTH", "loads", "check", "has_nul"]

#: the deepest nesting accepted (a lookup table or a technique's config needs a handful)
MAX_DEPTH = 64


class UnsafeJSON(ValueError):
    """JSON that cannot be taken: ``message`` says why, ``path`` where (dotted)."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


def has_nul(text: str) -> bool:
    return "\x00" in text


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
        obj = json.loads(data, parse_constant=_no_constant)
    except UnsafeJSON:
        raise
    except RecursionError:  # the C scanner stops at Python's recursion limit; check() at max_depth
        raise UnsafeJSON(f"nested more than {max_depth} levels deep") from None
    except json.JSONDecodeError as e:
        raise UnsafeJSON(f"not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    check(obj, max_depth=max_depth)
    return obj


def check(obj: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Walk a parsed document without recursion: nesting within ``max_depth``,
    no NUL in any key or text, no NaN or infinite numbers."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > max_depth:
                raise UnsafeJSON(f"nested more than {max_depth} levels deep", path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and has_nul(k):
                    raise UnsafeJSON("a key holds a NUL character (\\u0000)", path)
                stack.append((v, depth + 1, f"{path}.{k}" if path else str(k)))
        elif isinstance(value, str):
            if has_nul(value):
                raise UnsafeJSON("text holds a NUL character (\\u0000)", path)
        elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise UnsafeJSON("NaN and Infinity are not JSON numbers", path)
