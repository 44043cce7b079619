from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction


@transaction.atomic
def admin_ensure(*, username: str = "admin") -> str | None:
    """Create the local admin account on first start. Returns the generated
    password once (None when an account already exists)."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    return password


# -- sign-in throttling -----------------------------------------------------------------------
# A counter per user name and one per client address in Django's cache: after
# FRONTIER_LOGIN_MAX_FAILURES wrong passwords within FRONTIER_LOGIN_LOCKOUT_S, sign-in (the login
# form and POST /api/token/ alike) is refused for that name or address until the window ends, even
# with the right password. A success clears the name's counter.

def client_address(meta: dict) -> str:
    """The client's address for every throttle: REMOTE_ADDR, or behind FRONTIER_TRUSTED_PROXIES
    reverse proxies the address the outermost of them appended to X-Forwarded-For (the entry that
    many from the right), so that everyone's failures are not counted against the proxy's one
    address. With no trusted proxy (the default) X-Forwarded-For is ignored: a client could write
    anything there, a new value on each request."""
    from django.conf import settings

    addr = meta.get("REMOTE_ADDR", "")
    n = settings.FRONTIER_TRUSTED_PROXIES
    if n and meta.get("HTTP_X_FORWARDED_FOR"):
        hops = [h.strip() for h in meta["HTTP_X_FORWARDED_FOR"].split(",")]
        addr = hops[-min(n, len(hops))] or addr
    return addr[:64]


def _keys(username: str, address: str) -> list[str]:
    import hashlib

    name = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()[:32]
    return [f"frontier:login-fail:user:{name}", f"frontier:login-fail:addr:{address[:64]}"]


def login_locked_for(*, username: str, address: str) -> int:
    """Seconds until ``username`` / ``address`` may try again (0: now)."""
    import time

    from django.conf import settings
    from django.core.cache import cache

    now = time.time()
    waits = [0]
    for key in _keys(username, address):
        state = cache.get(key)
        if state and state["count"] >= settings.FRONTIER_LOGIN_MAX_FAILURES:
            waits.append(int(state["until"] - now) + 1)
    return max(0, max(waits))


def login_failed(*, username: str, address: str) -> None:
    import time

    from django.conf import settings
    from django.core.cache import cache

    window = settings.FRONTIER_LOGIN_LOCKOUT_S
    for key in _keys(username, address):
        state = cache.get(key) or {"count": 0, "until": time.time() + window}
        state["count"] += 1
        if state["count"] >= settings.FRONTIER_LOGIN_MAX_FAILURES:
            state["until"] = time.time() + window  # locked for a whole window from the last failure
        cache.set(key, state, timeout=window)


def login_succeeded(*, username: str) -> None:
    from django.core.cache import cache

    cache.delete(_keys(username, "")[0])


# -- API tokens ---------------------------------------------------------------------------------

@transaction.atomic
def token_create(*, user) -> "Token":  # noqa: F821
    """A new API token for ``user``, replacing (revoking) any old one."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def token_revoke(*, user) -> int:
    """Revoke ``user``'s API token; returns how many were removed (0 or 1)."""
    from rest_framework.authtoken.models import Token

    return Token.objects.filter(user=user).delete()[0]
