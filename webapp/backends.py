"""Sign-in through Django's one ``authenticate()``: every path that checks a
password (the login page, the admin's login, ``POST /api/token/`` and any added
later) passes this backend, so none can go around the lock-out. While a user
name or a client address is locked, the password is not even checked
(``PermissionDenied`` ends ``authenticate()``); each wrong password counts
once against both, a right one clears the name's count."""
from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from .services.accounts import client_address, login_failed, login_locked_for, login_succeeded

__all__ = ["ThrottledModelBackend"]


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:  # no client (a management command, a script): nothing to throttle
            return super().authenticate(request, username=username, password=password, **kwargs)
        name = username if isinstance(username, str) else ""
        address = client_address(request.META)
        if login_locked_for(username=name, address=address):
            raise PermissionDenied("sign-in locked")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            if name and password is not None:
                login_failed(username=name, address=address)
        else:
            login_succeeded(username=name)
        return user
