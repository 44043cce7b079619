"""One handler maps the application error to HTTP: 400 with a message per field."""
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from ..errors import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "errors": exc.field_errors}, status=exc.status)
    return drf_handler(exc, context)
