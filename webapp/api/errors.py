"""One handler maps the application error to HTTP: 400 with a message per field."""
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from ..errors import ApplicationError
from .parsers import UnsafeBody


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "errors": exc.field_errors}, status=exc.status)
    if isinstance(exc, UnsafeBody):
        return Response({"detail": str(exc.detail), "errors": {exc.field: exc.message}}, status=400)
    return drf_handler(exc, context)
