"""Every API list pages with ``?limit=`` and ``?offset=``, both checked: a
value that is not a whole number in range is a 400 naming the parameter (a
limit above 2**63 used to reach the database and fail there)."""
from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

__all__ = ["BoundedLimitOffsetPagination", "MAX_LIMIT", "MAX_OFFSET"]

MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1
_WHOLE = re.compile(r"[0-9]{1,12}")


def _whole(request, name: str, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _WHOLE.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise ValidationError({name: f"a whole number from {lo} to {hi}, not {raw[:40]!r}"})
    return int(raw)


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_limit(self, request):
        v = _whole(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if v is None else v

    def get_offset(self, request):
        v = _whole(request, self.offset_query_param, 0, MAX_OFFSET)
        return 0 if v is None else v

    def get_schema_operation_parameters(self, view):
        params = super().get_schema_operation_parameters(view)
        for p in params:
            if p["name"] == self.limit_query_param:
                p["schema"].update({"minimum": 1, "maximum": self.max_limit})
            elif p["name"] == self.offset_query_param:
                p["schema"].update({"minimum": 0, "maximum": MAX_OFFSET})
        return params
