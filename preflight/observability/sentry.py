"""Errors to Sentry, turned on by SENTRY_DSN alone and off without it.

Nothing that identifies a person is sent (``send_default_pii=False``), and every event passes
``scrub`` before it leaves: headers that authenticate (Authorization, Cookie, the CSRF token,
webhook signatures), cookies, query parameters and form fields named like secrets, and
credentials inside URLs or bearer tokens anywhere in a message are replaced by ``[Filtered]``.
sentry-sdk's own scrubber runs first, over the whole event, with its list of secret names.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode

if TYPE_CHECKING:
    from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

FILTERED = "[Filtered]"
SECRET_NAME = re.compile(
    r"auth|cookie|token|secret|passw|signature|session|csrf|api[-_]?key|dsn|credential",
    re.IGNORECASE,
)
# Credentials a message can carry: user:password@ in a URL, a bearer token, a Preflight token.
SECRET_TEXT = (
    (re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@"), FILTERED + "@"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s,;\"']+"), r"\1 " + FILTERED),
    (re.compile(r"\bpf_[A-Za-z0-9_-]{8,}"), FILTERED),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), FILTERED),
)


def init_sentry(dsn: str, *, environment: str = "") -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        auto_enabling_integrations=False,
        event_scrubber=EventScrubber(
            recursive=True, denylist=[*DEFAULT_DENYLIST, "signature", "dsn", "webhook_signature"]
        ),
        before_send=scrub,
        before_breadcrumb=scrub_breadcrumb,
        # Errors only: no performance tracing unless someone turns it on in code on purpose.
        traces_sample_rate=None,
    )


def scrub(event: Event, hint: Hint | None = None) -> Event:
    request: Any = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: FILTERED if SECRET_NAME.search(name) else _text(value)
                for name, value in headers.items()
            }
        if "cookies" in request:
            request["cookies"] = FILTERED
        query = request.get("query_string")
        if isinstance(query, str) and query:
            request["query_string"] = _query(query)
        if isinstance(request.get("url"), str):
            request["url"] = _text(request["url"])
        data = request.get("data")
        if isinstance(data, dict):
            request["data"] = _mapping(data)
        elif isinstance(data, str):
            request["data"] = _text(data)
        request.pop("env", None)
    return cast("Event", _strings(event))


def scrub_breadcrumb(crumb: Breadcrumb, hint: BreadcrumbHint | None = None) -> Breadcrumb:
    return cast("Breadcrumb", _strings(crumb))


def _query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, FILTERED if SECRET_NAME.search(k) else _text(v)) for k, v in pairs])


def _mapping(data: dict[str, Any]) -> dict[str, Any]:
    return {k: FILTERED if SECRET_NAME.search(str(k)) else v for k, v in data.items()}


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for pattern, replacement in SECRET_TEXT:
        value = pattern.sub(replacement, value)
    return value


def _strings(value: Any) -> Any:
    """Every string of the event (messages, exception values, local variables) cleaned."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    return value
