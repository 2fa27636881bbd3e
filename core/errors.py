"""Errors the services raise. Each carries a stable ``code`` that the API returns as is, and a
message written for the person who will read it. Input errors are Django's ValidationError."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied


class PreflightError(Exception):
    code = "error"
    status = 400

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        if code:
            self.code = code
        self.detail = detail
        self.extra = extra
        self.audited = False


class Denied(PermissionDenied):
    """The actor may not do this. Services record the refusal in the audit log."""

    code = "permission_denied"
    status = 403

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.audited = False


class NotFound(PreflightError):
    code = "not_found"
    status = 404


class Conflict(PreflightError):
    code = "conflict"
    status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class EnvironmentBusy(Conflict):
    code = "environment_busy"


class GateClosed(PreflightError):
    code = "gate_closed"
    status = 412


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The one error body, ``{"code", "detail", …}``: the API's answers and Django's own error
    answers on API paths (error_views, unavailable) alike."""
    return {"code": code, "detail": detail, **{k: v for k, v in extra.items() if v is not None}}
