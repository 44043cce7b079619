"""The API's JSON parser: :mod:`webapp.safejson` (a nesting limit, no NUL, no
NaN), so a hostile body is a 400 that names the problem, never a 500."""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .. import safejson

__all__ = ["SafeJSONParser", "UnsafeBody"]


class UnsafeBody(ParseError):
    """A body refused by :mod:`webapp.safejson`; ``field`` is where (dotted), "" for the whole body.
    The exception handler answers ``{"detail": …, "errors": {field: message}}``."""

    def __init__(self, message: str, field: str = ""):
        where = f" at {field}" if field else ""
        super().__init__(f"JSON parse error - {message}{where}.")
        self.field = field or "body"
        self.message = message


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # Django's DATA_UPLOAD_MAX_MEMORY_SIZE bounds the body (request.body refuses more)
        data = stream.read() if stream is not None else b""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and len(data) > limit:
            raise ParseError(f"The body is over {limit // 2**20} MB.")
        try:
            return safejson.loads(data)
        except safejson.UnsafeJSON as e:
            raise UnsafeBody(e.message, e.path) from None
