"""Each request counted (route, method, status, time) and logged in one line.

Sits right inside audit's RequestContextMiddleware, so the line carries the request id, and
outside everything else, so requests refused by the size limits or an invalid Host are counted
and logged too. Routes are URL pattern names (``api:gate``, ``release-detail``), never paths:
a path holds ids and versions, a label must not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from core import metrics

from . import logs

log = logging.getLogger(logs.REQUEST_LOGGER)

# Probes and scrapes come every few seconds; their successes are not worth a line each.
QUIET_PREFIXES = ("/health/", "/metrics")
PROJECT_KWARGS = ("project", "slug")


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unresolved"


def project_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "-"
    for name in PROJECT_KWARGS:
        value = match.kwargs.get(name)
        if isinstance(value, str) and value:
            return value[:100]
    return "-"


class RequestObservabilityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        info = logs.RequestInfo(request=request)
        token = logs.current.set(info)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            info.route = route_of(request)
            info.project = project_of(request)
            info.actor = logs.actor_label(request)
            metrics.request_answered(
                route=info.route,
                method=request.method or "",
                status=response.status_code,
                seconds=seconds,
            )
            self._log(request, response, info, seconds)
            # This line is the request's record: Django's handler would log a 4xx or 5xx
            # response once more ("Not Found: /…") after every middleware has returned.
            response._has_been_logged = True  # type: ignore[attr-defined]
        finally:
            logs.current.reset(token)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> None:
        """The route and project are known from here on: the view's own records carry them."""
        info = logs.current.get()
        if info is not None:
            info.route = route_of(request)
            info.project = project_of(request)

    @staticmethod
    def _log(
        request: HttpRequest,
        response: HttpResponseBase,
        info: logs.RequestInfo,
        seconds: float,
    ) -> None:
        status = response.status_code
        if status >= 500:
            level = logging.ERROR
        elif status >= 400:
            level = logging.WARNING
        elif request.path_info.startswith(QUIET_PREFIXES):
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not log.isEnabledFor(level):
            return
        # A path may hold anything a client sent; escaped, it cannot forge a second line.
        path = request.path.encode("unicode_escape").decode("ascii")
        extra: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        if info.refusals:
            extra["refusal"] = "; ".join(info.refusals)
        log.log(
            level,
            "%s %s %s %.0fms%s",
            request.method,
            path,
            status,
            seconds * 1000,
            f" ({extra['refusal']})" if info.refusals else "",
            extra=extra,
        )
