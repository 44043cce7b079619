import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs about a second per user on 2 busy cores."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Sign-in lock-outs and DRF's throttle counters live in the (in-process) cache: each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
