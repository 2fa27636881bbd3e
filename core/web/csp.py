"""Where browsers report what the Content-Security-Policy (``SECURE_CSP``) made them refuse.

Every page names this endpoint in its policy's ``report-uri``. A violation is either a page of
Preflight's that still carries inline script or style (a bug to fix) or something foreign in the
browser (an extension, an injected script): either way it belongs in the log, not in the
database. The endpoint is open to anyone, as the browser sends reports without the session's
CSRF token and sometimes without its cookie, so what it accepts is small and what it logs is
cut short: a report cannot flood the log with more than a few short lines."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger("preflight.csp")

# A report is a few hundred bytes; Chromium's batches (application/reports+json) stay well
# below this. Anything larger is not a browser reporting a violation.
MAX_REPORT_BYTES = 16 * 1024
# At most this many violations are logged from one request, each field cut to this length.
MAX_VIOLATIONS = 10
MAX_FIELD_CHARS = 300

# The fields worth a line in the log, under the names each report format gives them:
# report-uri's application/csp-report (kebab-case) and the Reporting API's (camelCase).
FIELDS = {
    "document": ("document-uri", "documentURL"),
    "directive": ("effective-directive", "effectiveDirective", "violated-directive"),
    "blocked": ("blocked-uri", "blockedURL"),
    "source": ("source-file", "sourceFile"),
    "line": ("line-number", "lineNumber"),
    "sample": ("script-sample", "sample"),
    "disposition": ("disposition",),
}
REPORT_TYPES = frozenset({"application/csp-report", "application/reports+json", "application/json"})


@login_not_required
@csrf_exempt
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    if request.content_type not in REPORT_TYPES:
        return HttpResponse(status=415)
    # The request guard (core/limits.py) has made Content-Length honest and present.
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_REPORT_BYTES:
        return HttpResponse(status=413)
    try:
        violations = _violations(json.loads(request.body))
    except (ValueError, RecursionError):  # 16 KB of [ nests deeper than some builds allow
        return HttpResponse(status=400)
    if violations is None:
        return HttpResponse(status=400)
    for violation in violations[:MAX_VIOLATIONS]:
        logger.warning(
            "Content-Security-Policy violation: %s",
            " ".join(f"{name}={value!r}" for name, value in _fields(violation).items()),
        )
    return HttpResponse(status=204)


def _violations(payload: Any) -> list[dict[str, Any]] | None:
    """The violations in a report of either format, or None when it is neither."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        return [payload["csp-report"]]
    if isinstance(payload, list):
        return [
            item["body"]
            for item in payload
            if isinstance(item, dict)
            and item.get("type") == "csp-violation"
            and isinstance(item.get("body"), dict)
        ]
    return None


def _fields(violation: dict[str, Any]) -> dict[str, str]:
    found = {}
    for name, keys in FIELDS.items():
        for key in keys:
            value = violation.get(key)
            if value not in (None, ""):
                found[name] = str(value)[:MAX_FIELD_CHARS]
                break
    return found
