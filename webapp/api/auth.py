"""API tokens that expire: a token older than FRONTIER_TOKEN_TTL_DAYS is refused
(a new one comes from POST /api/token/ or the account page, which also revokes)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import ScopedRateThrottle

__all__ = ["ClientRateThrottle", "ExpiringTokenAuthentication", "token_expires_at"]


class ClientRateThrottle(ScopedRateThrottle):
    """DRF's scoped rate, keyed on the client as the sign-in lock-out sees it
    (:func:`webapp.services.accounts.client_address`: X-Forwarded-For only from trusted proxies)."""

    def get_ident(self, request):
        from ..services.accounts import client_address

        return client_address(request.META)


def token_expires_at(token):
    return token.created + timedelta(days=settings.FRONTIER_TOKEN_TTL_DAYS)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if timezone.now() >= token_expires_at(token):
            raise exceptions.AuthenticationFailed("Token expired; get a new one from POST /api/token/ or your "
                                                  "account page.")
        return user, token
