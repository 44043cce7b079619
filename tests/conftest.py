"""Shared fixtures. Services (Redis, PostgreSQL, Chromium) are real: a test
that needs one skips when it is missing, and fails instead when CI=true."""
from __future__ import annotations

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config):
    """Checkpoints and pre-trained backbones that tests write go to a folder of
    this run, never the user's cache (var/cache), where they would become "the
    newest" super-net of the dashboard. Worker processes inherit it."""
    import tempfile

    os.environ["FRONTIER_CACHE_DIR"] = tempfile.mkdtemp(prefix="frontier-test-cache-")


def _reachable(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require(what: str, ok: bool, hint: str) -> None:
    if ok:
        return
    if CI:
        pytest.fail(f"{what} is required in CI but missing: {hint}")
    pytest.skip(f"{what} not available: {hint}")


@pytest.fixture
def need_redis():
    url = os.environ.get("REDIS_URL", "")
    require("Redis", bool(url) and _reachable(url, 6379), "set REDIS_URL to a running Redis")
    return url


@pytest.fixture
def need_postgres(settings):
    require("PostgreSQL", settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
            "set DATABASE_URL to a running PostgreSQL")


@pytest.fixture
def need_chromium():
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    require("Chromium", path is not None, "apt-get install chromium")
    return path


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOADS_DIR = settings.MEDIA_ROOT / "uploads"
    settings.UPLOADS_DIR.mkdir(parents=True)
    settings.NETWORKS_DIR = settings.MEDIA_ROOT / "networks"
    return settings.MEDIA_ROOT


@pytest.fixture
def profiles(db):
    from webapp import services

    services.hardware_profiles_sync_builtin()
    from webapp.models import HardwareProfile

    return {p.slug: p for p in HardwareProfile.objects.all()}


@pytest.fixture
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-pass-123")


@pytest.fixture
def other_user(db, django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bob-pass-123")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user(username="sam", password="sam-pass-123", is_staff=True)


@pytest.fixture
def api(user):
    from rest_framework.test import APIClient

    c = APIClient()
    c.force_authenticate(user)
    return c


@pytest.fixture
def no_queue(monkeypatch):
    """Launch without sending to a broker; returns the list of queued experiment ids."""
    sent: list[int] = []
    from webapp.services import experiments

    monkeypatch.setattr(experiments, "_enqueue", lambda exp: sent.append(exp.pk))
    return sent


#: the smallest real model-zoo job (a couple of seconds on 2 cores)
SMOKE_ZOO = {"models": ["squeezenet1_1"], "widths": [1.0], "resolutions": [32], "train_epochs": 0,
             "latency_repeats": 2, "latency_warmup": 1}

