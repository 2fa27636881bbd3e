"""Where a request came from, for the audit log and for log lines.

The middleware sets these for each request and a Celery signal for each task, so services can
record the origin of a change without every caller passing it along."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContextLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True
