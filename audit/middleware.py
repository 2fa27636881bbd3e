from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from . import context
from .actors import Actor
from .services import record_denied

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def client_ip_of(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind PREFLIGHT_PROXY_COUNT trusted proxies, the
    address the outermost trusted proxy saw (never a value the client could have written)."""
    hops = settings.PREFLIGHT_PROXY_COUNT
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Give each request an id (kept from X-Request-ID when it is sane) and note the client's
    address, for audit events and log lines; echo the id back in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = rid  # type: ignore[attr-defined]
        rid_token = context.request_id.set(rid)
        ip_token = context.client_ip.set(client_ip_of(request))
        try:
            response = self.get_response(request)
        finally:
            context.request_id.reset(rid_token)
            context.client_ip.reset(ip_token)
        response["X-Request-ID"] = rid
        return response


class PermissionDeniedAuditMiddleware:
    """Record every 403 a view raises that a service has not already recorded."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied) and not getattr(exception, "audited", False):
            record_forbidden(request, str(exception))


def record_forbidden(request: HttpRequest, reason: str) -> None:
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    actor = Actor.of_user(user) if authenticated else Actor.anonymous()
    record_denied(
        actor=actor,
        action="http.forbidden",
        reason=reason or "permission denied",
        attempted={"method": request.method, "path": request.path},
    )
