"""Log lines: one JSON object per record in production, readable lines for ``make run``.

Every record made while a request is served carries its request id (the X-Request-ID Preflight
answers with), the actor, the project and the route name, whichever logger made it. Each
request gets one line of its own from ``preflight.request`` (middleware.py). A refused request
(4xx) is that one line: what Django's own loggers say about it (``Not Found: …``, ``Forbidden
(CSRF …)``, an invalid Host header with its traceback) is folded into the line's ``refusal``
field instead of standing as a second record.

Imported by the settings and by gunicorn.conf.py: only the standard library at module level.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

REQUEST_LOGGER = "preflight.request"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(actor)s %(route)s] %(message)s"
# The fields every JSON line starts with; anything passed as ``extra`` follows.
JSON_FIELDS = (
    "asctime",
    "levelname",
    "name",
    "message",
    "request_id",
    "actor",
    "project",
    "route",
)
JSON_RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}
# Django passes the request object and the server's clock along; neither belongs in a line.
NOT_LOGGED = ("request", "server_time")


@dataclass
class RequestInfo:
    """What the log lines of the request being served say about it, filled in as it is known."""

    route: str = "-"
    project: str = "-"
    actor: str = "-"
    refusals: list[str] = field(default_factory=list)
    request: Any = None


current: ContextVar[RequestInfo | None] = ContextVar("current_request_log", default=None)


class ContextFilter(logging.Filter):
    """Adds request_id, actor, project and route to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from audit import context

        info = current.get()
        record.request_id = context.request_id.get() or "-"
        if info is not None and info.request is not None and info.actor == "-":
            info.actor = actor_label(info.request)
        record.actor = info.actor if info else "-"
        record.project = info.project if info else "-"
        record.route = info.route if info else "-"
        return True


class FoldRefusals(logging.Filter):
    """Django's records about a refused request (4xx) become part of that request's own line."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current.get()
        if info is None:
            return True
        refused = record.name.startswith("django.security") or (
            record.name == "django.request" and getattr(record, "status_code", 500) < 500
        )
        if not refused:
            return True
        info.refusals.append(record.getMessage())
        return False


def actor_label(request: Any) -> str:
    """Who sent the request, from what authentication already loaded (never a query: a log
    line must not cost the request a database round trip)."""
    token = getattr(request, "auth", None)
    if token is not None and hasattr(token, "name") and hasattr(token, "project_id"):
        owner = token._state.fields_cache.get("user") if hasattr(token, "_state") else None
        return f"token:{token.name}" + (f" for {owner.get_username()}" if owner else "")
    if "user" not in request.__dict__:
        return "-"  # refused before authentication
    user = request.__dict__["user"]
    if user is None:
        return "anonymous"  # the API found no credentials
    wrapped = getattr(user, "_wrapped", user)
    # A session user nobody asked for is still an unevaluated SimpleLazyObject: not looked up.
    if not hasattr(wrapped, "is_authenticated"):
        return "-"
    if wrapped.is_authenticated:
        return str(wrapped.get_username())
    return "anonymous"


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING for ``json`` or ``plain`` lines on stderr."""
    formatter: dict[str, Any]
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": list(JSON_FIELDS),
            "rename_fields": JSON_RENAMED,
            "reserved_attrs": [*_reserved_attrs(), *NOT_LOGGED],
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
    else:
        formatter = {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "preflight.observability.logs.ContextFilter"},
            "fold_refusals": {"()": "preflight.observability.logs.FoldRefusals"},
            # The database away: one warning line per request, not a traceback.
            "database_unavailable": {"()": "core.unavailable.QuietDatabaseErrors"},
        },
        "formatters": {"line": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["database_unavailable", "fold_refusals", "context"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Through this handler only: Django's own console handler (DEBUG) would print the
            # tracebacks the filters above shorten, and every line twice.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
            "django.db.backends": {"level": "INFO"},
            # runserver's own request lines would repeat preflight.request's.
            "django.server": {"level": "ERROR"},
            "celery": {"level": level},
        },
    }


def gunicorn_logconfig(log_format: str, level: str) -> dict[str, Any]:
    """gunicorn's own records (start, workers, signals) in the same shape. Its access log is
    off: every request already has its line from the application, with the request id."""
    config = logging_config(log_format, level)
    config["handlers"]["console"]["filters"] = ["context"]
    config["root"] = {"handlers": [], "level": "WARNING"}
    config["loggers"] = {
        "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    }
    return config


def _reserved_attrs() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS

    # What fmt names is still logged; the rest of a LogRecord's own attributes are not.
    return [name for name in RESERVED_ATTRS if name not in JSON_FIELDS]
