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
