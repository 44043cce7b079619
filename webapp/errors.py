"""The one application error that services raise. The API's exception handler
maps it to HTTP 400 (403 / 404 by ``status``); forms show ``field_errors``."""
from __future__ import annotations

__all__ = ["ApplicationError"]


class ApplicationError(Exception):
    def __init__(self, message: str, *, field_errors: dict[str, str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.field_errors = dict(field_errors or {})
        self.status = status
