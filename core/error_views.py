"""Error answers Django gives by itself, in the shape each audience reads: the API's JSON error body
(``{code, detail}``, api/errors.py) on API paths, the HTML error pages (templates/400.html,
403.html, 404.html, 413.html, 500.html) everywhere else.

Django answers on its own when URL resolution finds nothing (404), a CSRF token is missing or
wrong (403), a request is suspicious — a Host header not in ALLOWED_HOSTS, too many form fields
(400) — or an exception escapes every view (500). The request guard (core/limits.py)
answers oversized and malformed requests through ``error_response`` too."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from core.errors import error_body

API_PREFIX = "/api/"

# The code an error status gets in the API's body when Django, not the API, answered it.
_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}
# Headers an error answer carries that the JSON body must keep.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
_PAGES = {400: "400.html", 403: "403.html", 404: "404.html", 413: "413.html"}


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def code_for(status: int) -> str:
    return _CODES.get(status, "error")


def error_response(request: HttpRequest, status: int, code: str, detail: str) -> HttpResponse:
    """The API's error body on an API path, else the error page for ``status``."""
    if is_api(request):
        return JsonResponse(error_body(code, detail), status=status)
    if status >= 500:
        return HttpResponse(loader.render_to_string("500.html"), status=status)
    template = _PAGES.get(status, "400.html")
    body = loader.render_to_string(template, {"exception": detail}, request)
    return HttpResponse(body, status=status)


def as_api_error(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """An error answered on an API path by something other than the API (a Django view, a
    decorator such as ``require_GET``): the same status with the API's body instead of HTML."""
    if not is_api(request) or response.status_code < 400:
        return response
    if response.get("Content-Type", "").startswith("application/json"):
        return response
    status = response.status_code
    replaced = JsonResponse(
        error_body(code_for(status), _phrase(status)), status=status, reason=response.reason_phrase
    )
    for header in _KEPT_HEADERS:
        if header in response:
            replaced[header] = response[header]
    return replaced


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "The request failed."


def _message(exception: Exception, default: str) -> str:
    message = exception.args[0] if exception.args else None
    return message if isinstance(message, str) and message else default


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return error_response(request, 400, "bad_request", "The request was refused as malformed.")
    return defaults.bad_request(request, exception)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        detail = _message(exception, "Permission denied.")
        return error_response(request, 403, "permission_denied", detail)
    return defaults.permission_denied(request, exception)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        detail = _message(exception, f"No API endpoint at {request.path}.")
        return error_response(request, 404, "not_found", detail)
    return defaults.page_not_found(request, exception)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    # Rendered without the request: context processors would query a database that may be down.
    return error_response(
        request, 500, "server_error", "Something went wrong on our side; it has been logged."
    )


def csrf_failure(request: HttpRequest, reason: str = "", **_: Any) -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form or a session API call without a valid CSRF token."""
    if is_api(request):
        # The words DRF's session authentication uses for the same refusal.
        return error_response(request, 403, "permission_denied", f"CSRF Failed: {reason}")
    return error_response(
        request,
        403,
        "permission_denied",
        "This form could not be accepted (its security token is missing or out of date). "
        "Reload the page and try again.",
    )
