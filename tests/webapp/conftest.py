import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs about a second per user on 2 busy cores."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
