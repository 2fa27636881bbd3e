"""Who is calling: a bearer token (user or service) or a browser session with CSRF."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from audit.actors import Actor
from releases.models import ApiToken

from . import token_cache

REALM = 'Bearer realm="preflight"'


class BearerTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <token>``. A user token authenticates as its user; a service token
    has no user (``request.user`` is None) and acts through ``request.auth`` alone."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as 'Authorization: Bearer <token>'.", code="invalid_token"
            )
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raw = ""
        from .throttling import LoginRateThrottle, TokenRateThrottle  # they name principals here

        token, counted = (
            token_cache.authenticate(raw, TokenRateThrottle().window_of_token)
            if raw
            else (None, None)
        )
        # Counted with the token in one round trip: TokenRateThrottle reads it, and counts only
        # when this is None.
        request.token_rate_count = counted  # type: ignore[attr-defined]
        if token is None:
            throttle = LoginRateThrottle()
            if not throttle.failure_allowed(request):
                raise exceptions.Throttled(throttle.wait())
            raise exceptions.AuthenticationFailed(
                "The token is unknown, expired or revoked.", code="invalid_token"
            )
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return REALM


class IsAuthenticatedPrincipal(BasePermission):
    """A token (user or service) or a logged-in user; everything else is refused with 401."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_authenticated(request)


def is_authenticated(request: Request) -> bool:
    """A token (user or service) or a logged-in user sent the request."""
    if isinstance(request.auth, ApiToken):
        return True
    return bool(request.user is not None and request.user.is_authenticated)


def actor_of(request: Request) -> Actor:
    if isinstance(request.auth, ApiToken):
        return Actor.of_token(request.auth)
    return Actor.of_user(request.user)


def principal_of(request: Request) -> str:
    """A stable name for who sent an authenticated request, for idempotency keys and throttles."""
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"
