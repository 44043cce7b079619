"""Accounts (issue 17, part 5): wrong passwords are throttled on the login form
and on POST /api/token/ (30 in a row used to be answered every time), tokens
expire and can be created and revoked from the account page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_thirty_wrong_passwords_on_the_login_form_are_throttled(client, user, settings):
    codes = [client.post("/login/", {"username": "alice", "password": f"guess-{i}"}).status_code for i in range(30)]
    n = settings.FRONTIER_LOGIN_MAX_FAILURES
    assert codes[:n] == [200] * n and set(codes[n:]) == {429}
    # locked: the right password is refused too, and no session starts
    r = client.post("/login/", {"username": "alice", "password": "alice-pass-123"})
    assert r.status_code == 429 and "locked" in r.content.decode() and int(r["Retry-After"]) > 0
    assert client.get("/").status_code == 302


def test_the_lock_is_per_name_and_per_address(client, user, other_user, settings):
    settings.FRONTIER_LOGIN_MAX_FAILURES = 3
    for i in range(3):
        client.post("/login/", {"username": "alice", "password": "x"}, REMOTE_ADDR="10.0.0.1")
    # alice from another address: still locked (per name)
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"},
                       REMOTE_ADDR="10.0.0.2").status_code == 429
    # bob from the first address: locked too (per address)
    assert client.post("/login/", {"username": "bob", "password": "bob-pass-123"},
                       REMOTE_ADDR="10.0.0.1").status_code == 429
    # bob from elsewhere signs in
    assert client.post("/login/", {"username": "bob", "password": "bob-pass-123"},
                       REMOTE_ADDR="10.0.0.3").status_code == 302


def test_the_lock_ends_after_its_window(client, user, settings, monkeypatch):
    import time

    settings.FRONTIER_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        client.post("/login/", {"username": "alice", "password": "x"})
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"}).status_code == 429
    later = time.time() + settings.FRONTIER_LOGIN_LOCKOUT_S + 1
    monkeypatch.setattr(time, "time", lambda: later)
    from django.core.cache import cache

    # the cache entry would expire by then as well; the stored deadline alone already allows it
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"}).status_code == 302
    cache.clear()


def test_a_success_clears_the_count(client, user, settings):
    settings.FRONTIER_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        client.post("/login/", {"username": "alice", "password": "x"}, REMOTE_ADDR="10.0.0.9")
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"},
                       REMOTE_ADDR="10.0.0.8").status_code == 302
    client.logout()
    for _ in range(2):
        client.post("/login/", {"username": "alice", "password": "x"}, REMOTE_ADDR="10.0.0.7")
    assert client.post("/login/", {"username": "alice", "password": "alice-pass-123"},
                       REMOTE_ADDR="10.0.0.6").status_code == 302


def test_thirty_wrong_passwords_for_a_token_are_throttled(user, settings, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token": "1000/min"})  # the lock-out alone
    c = APIClient()
    codes = [c.post("/api/token/", {"username": "alice", "password": f"g{i}"}, format="json").status_code
             for i in range(30)]
    n = settings.FRONTIER_LOGIN_MAX_FAILURES
    assert codes[:n] == [400] * n and set(codes[n:]) == {429}
    r = c.post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert r.status_code == 429 and "Too many" in r.json()["detail"]
    assert not Token.objects.exists()


def test_token_requests_are_rate_limited_per_client(user, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    c = APIClient()
    codes = [c.post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json").status_code
             for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_tokens_expire(user, settings):
    c = APIClient()
    body = c.post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json").json()
    assert body["expires_at"]
    c.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert c.get("/api/hardware/").status_code == 200
    Token.objects.filter(key=body["token"]).update(created=timezone.now() - timedelta(days=settings.FRONTIER_TOKEN_TTL_DAYS,
                                                                                        seconds=1))
    r = c.get("/api/hardware/")
    assert r.status_code in (401, 403) and "expired" in r.json()["detail"]
    # asking again gives a new one in place of the expired one
    again = APIClient().post("/api/token/", {"username": "alice", "password": "alice-pass-123"}, format="json").json()
    assert again["token"] != body["token"] and Token.objects.count() == 1


def test_the_account_page_creates_and_revokes_the_token(client, user):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert 'id="no-token"' in page
    client.post("/account/", {"action": "create"})
    key = Token.objects.get(user=user).key
    page = client.get("/account/").content.decode()
    assert key in page and "expires" in page
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/hardware/").status_code == 200
    client.post("/account/", {"action": "create"})  # replacing revokes the old one
    assert api.get("/api/hardware/").status_code in (401, 403)
    new = Token.objects.get(user=user).key
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api.get("/api/hardware/").status_code == 200
    client.post("/account/", {"action": "revoke"})
    assert api.get("/api/hardware/").status_code in (401, 403) and not Token.objects.exists()
    assert client.post("/account/", {"action": "steal"}, follow=True).status_code == 200
    assert client.get("/").content.decode().count('href="/account/"') == 1


def test_behind_the_tls_proxy_each_client_counts_apart(client, user, other_user, settings):
    """Every request comes from the proxy's address: the client is the one the proxy appended."""
    settings.FRONTIER_LOGIN_MAX_FAILURES = 3
    settings.FRONTIER_TRUSTED_PROXIES = 1  # what FRONTIER_BEHIND_TLS_PROXY=true implies
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    for _ in range(3):
        client.post("/login/", {"username": "mallory", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert client.post("/login/", {"username": "mallory2", "password": "x"}, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9",
                       **proxy).status_code == 429  # a spoofed first entry changes nothing
    assert client.post("/login/", {"username": "bob", "password": "bob-pass-123"},
                       HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 302
