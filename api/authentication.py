"""Who is calling: a bearer token (user or service) or a browser session with CSRF."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from audit.actors import Actor
from releases.models import ApiToken

from . import gate_cache, token_cache
from .principals import is_authenticated
from .throttling import LoginRateThrottle, TokenRateThrottle

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
        found = (
            token_cache.authenticate(
                raw, TokenRateThrottle().window_of_token, gate_cache.STATE_KEY_PREFIX
            )
            if raw
            else token_cache.Found(None)
        )
        token = found.token
        # Read with the token in one round trip: TokenRateThrottle uses the count (and counts
        # itself only when it is None); the gate endpoint uses the service project's gate state.
        request.token_rate_count = found.counted  # type: ignore[attr-defined]
        request.project_gate_state = found.gate_state  # type: ignore[attr-defined]
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


def project_gate_state(request: Request, project_id: int) -> str | None:
    """The project's gate state, when the service token's read brought it along."""
    if isinstance(request.auth, ApiToken) and request.auth.project_id == project_id:
        return getattr(request, "project_gate_state", None) or None
    return None


def actor_of(request: Request) -> Actor:
    if isinstance(request.auth, ApiToken):
        return Actor.of_token(request.auth)
    return Actor.of_user(request.user)
