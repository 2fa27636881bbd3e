"""503 instead of a traceback while the database is away (a restart, a failover, a full pool).

The database is Preflight's source of truth: without it nothing can be answered truthfully, so a
request that meets ``OperationalError`` / ``InterfaceError`` is answered 503 with
``Retry-After`` — the API's error body (``{code: "unavailable", detail}``) on API paths, a plain
page elsewhere — and the connection is dropped, to be replaced by a fresh one (pool checks,
CONN_HEALTH_CHECKS) once the database is back. Nothing of the request stays: its transaction
rolled back with the connection, and an Idempotency-Key it carried is not kept (a 5xx never is).

Views' errors reach ``process_exception``; an error in a middleware (the session, the login
check) only shows as Django's own 500, which the middleware turns into the same 503
(``got_request_exception`` marks the request). The log gets one line, not a traceback
(``QuietDatabaseErrors``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template import loader
from django.utils.safestring import SafeString
from django.views.debug import ExceptionReporter

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DETAIL = "The database is unavailable for a moment; retry shortly."
_MARK = "_preflight_database_unavailable"


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def unavailable_response(request: HttpRequest, detail: str = DETAIL) -> HttpResponse:
    from core.error_views import is_api
    from core.errors import error_body

    response: HttpResponse
    if is_api(request):
        response = JsonResponse(error_body("unavailable", detail), status=503)
    else:
        # Rendered without the request: context processors would query the database.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if getattr(request, _MARK, False) and response.status_code == 500:
            return unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        log.warning(
            "database unavailable: %s %s answered 503 (%s)",
            request.method,
            request.path,
            _first_line(exception),
        )
        return unavailable_response(request)


class _Unreported(ExceptionReporter):
    """The report of a 500 that the middleware turns into the 503. Under DEBUG, Django's debug
    page would show the request's user and the frames' local variables — querysets among them,
    each a query waiting out the pool's timeout (a 45 s answer) — in a response nobody sees."""

    def get_traceback_html(self) -> SafeString:
        return SafeString("")

    def get_traceback_text(self) -> SafeString:
        return SafeString("")


@receiver(got_request_exception, dispatch_uid="preflight-database-unavailable")
def _mark(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        setattr(request, _MARK, True)
        # Django's debug page asks the request for its reporter (get_exception_reporter_class).
        request.exception_reporter_class = _Unreported


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".strip()


class QuietDatabaseErrors(logging.Filter):
    """A log record of a request that failed because the database is away: one warning line
    instead of an error with a traceback (the traceback says nothing the line does not)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) == 503:
            _warning(record)  # Django logs every 5xx as an error; this one is expected
        exc = record.exc_info[1] if record.exc_info else None
        if is_database_unavailable(exc):
            assert exc is not None
            # Django logs the 500 it made before the middleware turned it into a 503.
            message = record.getMessage().replace("Internal Server Error", "Answered 503")
            record.msg = f"{message} (database unavailable: {_first_line(exc)})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            _warning(record)
        return True


def _warning(record: logging.LogRecord) -> None:
    record.levelno = logging.WARNING
    record.levelname = "WARNING"
