"""What every request must be before any view sees it, checked in one place for the API and the
pages alike:

- a body of at most ``PREFLIGHT_MAX_REQUEST_BYTES`` (413), with a Content-Length that is a number
  and as long as the body (400), and a length at all when a body is sent (411: a chunked body
  would reach Django empty);
- a path without NUL bytes (404: nothing in Preflight can be named so; Django itself turns bytes
  that are not UTF-8 back into %XX escapes, which name nothing either);
- a query string, cookies and form fields that are UTF-8 without NUL bytes (400).

PostgreSQL cannot store or compare text with NUL bytes, and invalid UTF-8 reaches views as
replacement characters; refused here, neither reaches a query. JSON bodies are checked by the
API's parser (api/parsers.py). The refusals are the API's error body on API paths and
error pages elsewhere (core/error_views.py), which is also what any other error on an API
path is turned into on its way out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponseBase, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from .error_views import as_api_error, error_response

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class RequestLimitsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = refusal_of(request)
        if refusal is not None:
            return refusal
        return as_api_error(request, self.get_response(request))


def refusal_of(request: HttpRequest) -> HttpResponseBase | None:
    """The answer to a request no view should see, or None."""
    length = request.META.get("CONTENT_LENGTH", "").strip()
    limit = settings.PREFLIGHT_MAX_REQUEST_BYTES
    if length and not (length.isascii() and length.isdigit()):
        return error_response(
            request, 400, "malformed_request", "Content-Length must be a number of bytes."
        )
    if length and int(length) > limit:
        return error_response(
            request,
            413,
            "request_too_large",
            f"The request body is {int(length):,} bytes; Preflight accepts at most {limit:,}.",
        )
    if request.method in _BODY_METHODS:
        if not length and "HTTP_TRANSFER_ENCODING" in request.META:
            return error_response(
                request, 411, "length_required", "Send the body with a Content-Length header."
            )
        if length and int(length) and _short(request, int(length)):
            return error_response(
                request,
                400,
                "malformed_request",
                f"The body ended before the {int(length):,} bytes its Content-Length announced.",
            )

    if "\x00" in request.path:
        return error_response(request, 404, "not_found", "Nothing is named with a NUL byte.")
    if _may_be_malformed(request.META.get("QUERY_STRING", "")) and _malformed(
        _form_decoded(get_bytes_from_wsgi(request.META, "QUERY_STRING", ""))
    ):
        return _malformed_answer(request, "The query string")
    # A cookie value can hold a NUL only as a raw byte or an escape in a quoted value (\000).
    cookies = request.META.get("HTTP_COOKIE", "")
    if ("\x00" in cookies or "\\" in cookies) and any(
        "\x00" in name + value for name, value in request.COOKIES.items()
    ):
        return _malformed_answer(request, "A cookie")
    return _form_refusal(request)


def _may_be_malformed(text: str) -> bool:
    """False for plain ASCII without escapes (most queries): nothing to decode and check."""
    return not text.isascii() or "%" in text or "\x00" in text


def _short(request: HttpRequest, length: int) -> bool:
    """Whether the body is shorter than announced: the client lied or went away mid-way."""
    try:
        return len(request.body) < length
    except UnreadablePostError:
        return True


def _form_refusal(request: HttpRequest) -> HttpResponseBase | None:
    content_type = request.content_type or ""
    if content_type not in _FORM_TYPES:
        return None
    try:
        if content_type == "multipart/form-data":
            # Django decodes the parts (invalid UTF-8 becomes U+FFFD); NUL bytes remain.
            fields = request.POST.lists()
            bad = any("\x00" in name + value for name, values in fields for value in values)
        else:
            bad = _malformed(_form_decoded(request.body))
    except (MultiPartParserError, UnreadablePostError):
        return error_response(
            request, 400, "malformed_request", "The form's body is malformed or incomplete."
        )
    return _malformed_answer(request, "The form") if bad else None


def _form_decoded(raw: bytes) -> bytes:
    """What an application/x-www-form-urlencoded string (a query, a form body) decodes to."""
    return unquote_to_bytes(raw.replace(b"+", b" "))


def _malformed(raw: bytes) -> bool:
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _malformed_answer(request: HttpRequest, what: str) -> HttpResponseBase:
    return error_response(
        request, 400, "malformed_request", f"{what} contains a NUL byte or invalid UTF-8."
    )
