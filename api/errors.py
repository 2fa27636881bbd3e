"""One error body for the whole API: ``{code, detail, fields?}`` plus what the error adds
(``reasons`` of a closed gate, the ``holder`` of a busy environment…).

Services raise ``core.errors`` and Django's ValidationError; DRF raises its own exceptions
while parsing, authenticating and throttling. ``exception_handler`` turns each into the body and
status PRODUCT.md names."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.errors import Denied, PreflightError, error_body
from core.unavailable import DETAIL, RETRY_AFTER_SECONDS, is_database_unavailable

log = logging.getLogger(__name__)

# DRF's own exceptions: the code each one gets in the body.
_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_token",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.PermissionDenied: "permission_denied",
}


def _field_messages(detail: Any) -> dict[str, list[str]]:
    """DRF's nested error detail as ``{field: [message, ...]}`` (nested fields dotted)."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, inner in enumerate(value):
                walk(f"{prefix}.{index}", inner)
        else:
            items = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return fields


def _validation_body(fields: dict[str, list[str]]) -> dict[str, Any]:
    named = [name for name in fields if name not in ("non_field_errors", "__all__")]
    if named:
        detail = "Check these fields: " + ", ".join(named) + "."
    else:
        detail = " ".join(m for messages in fields.values() for m in messages) or "Invalid input."
    return error_body("invalid", detail, fields=fields)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    set_rollback()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {
                ("non_field_errors" if k == "__all__" else k): v
                for k, v in exc.message_dict.items()
            }
        else:
            fields = {"non_field_errors": list(exc.messages)}
        return Response(_validation_body(fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            _validation_body(_field_messages(exc.detail)), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Denied):
        if exc.code == "not_a_member":
            # Outsiders do not learn that a project exists.
            return Response(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
        return Response(error_body(exc.code, exc.detail), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, PreflightError):
        return Response(error_body(exc.code, exc.detail, **exc.extra), status=exc.status)
    if isinstance(exc, Http404):
        return Response(
            error_body("not_found", str(exc) or "Not found."), status=status.HTTP_404_NOT_FOUND
        )
    if isinstance(exc, DjangoPermissionDenied):
        return Response(
            error_body("permission_denied", str(exc) or "Permission denied."),
            status=status.HTTP_403_FORBIDDEN,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "The request body is larger than Preflight accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):  # a Host not allowed, too many fields…
        return Response(
            error_body("bad_request", "The request was refused as malformed."),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), None)
        if code is None:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        if isinstance(exc, exceptions.AuthenticationFailed) and exc.status_code == 401:
            code = "invalid_token"
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    if is_database_unavailable(exc):
        # Nothing the request did stays: its transaction rolls back with the connection.
        log.warning("database unavailable: API request answered 503 (%s)", exc)
        return Response(
            error_body("unavailable", DETAIL),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.exception("API request failed", exc_info=exc)
    return Response(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


@csrf_exempt  # it changes nothing; a CSRF refusal would answer HTML instead of this body
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under /api/v1/ that names no endpoint."""
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
