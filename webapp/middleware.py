"""Request checks made once for every page and API call, before any view."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

__all__ = ["RejectNulMiddleware", "PrivateCacheMiddleware"]


def _nul_field(request: HttpRequest) -> str | None:
    """The first place a NUL character appears: the path, a query parameter or a
    form field (name or value). JSON bodies are checked by the API's parser."""
    if "\x00" in request.path:
        return "path"
    sources = [("query", request.GET)]
    ctype = request.content_type or ""
    if request.method == "POST" and ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(("form", request.POST))
    for _, data in sources:
        for key, values in data.lists():
            if "\x00" in key:
                return key.replace("\x00", "\\x00")[:60]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                return key[:60]
    return None


class RejectNulMiddleware:
    """A NUL character in the path, a query parameter or a form field is a 400
    that names it (PostgreSQL refuses NUL in text; it used to be a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_field(request)
        if where is None:
            return self.get_response(request)
        message = f"{where}: text may not contain a NUL character (\\x00)."
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Bad request.", "errors": {where: message}}, status=400)
        return HttpResponseBadRequest(f"Bad request. {message}", content_type="text/plain; charset=utf-8")


class PrivateCacheMiddleware:
    """A page or API answer for a signed-in user (a session or an ``Authorization`` header) is
    ``Cache-Control: private``: a shared cache (a proxy, a CDN) must not keep one user's
    experiments and hand them to the next."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.utils.cache import patch_cache_control

        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, private=True)
        return response
