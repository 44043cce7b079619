"""The API's JSON parser: :mod:`webapp.safejson` (a nesting limit, no NUL, no
NaN), so a hostile body is a 400 that names the problem, never a 500."""
from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .. import safejson

__all__ = ["SafeJSONParser"]


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
            where = f" at {e.path}" if e.path else ""
            raise ParseError(f"JSON parse error - {e.message}{where}.") from None
