"""Who sent a request, as authentication and the throttles both need to know it (so neither
imports the other for it)."""

from __future__ import annotations

from rest_framework.request import Request

from releases.models import ApiToken


def is_authenticated(request: Request) -> bool:
    """A token (user or service) or a logged-in user sent the request."""
    if isinstance(request.auth, ApiToken):
        return True
    return bool(request.user is not None and request.user.is_authenticated)


def principal_of(request: Request) -> str:
    """A stable name for who sent an authenticated request, for idempotency keys and throttles."""
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"
