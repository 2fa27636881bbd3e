"""HTMX responses: a partial of the page's own template, plus the flash messages swapped in out
of band, so an in-page action tells the user what happened without a reload."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def is_htmx(request: HttpRequest) -> bool:
    """An HTMX request that wants a fragment. Boosted requests want whole pages, and so does
    the back button when htmx has no snapshot of the page to restore."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_partial(
    request: HttpRequest,
    template: str,
    partial: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    """The whole page for a normal request, ``template#partial`` (with messages out of band)
    for an HTMX one."""
    if not is_htmx(request):
        return HttpResponse(render_to_string(template, context, request), status=status)
    body = render_to_string(f"{template}#{partial}", context, request)
    body += render_to_string("base.html#messages", {"oob": True}, request)
    return HttpResponse(body, status=status)
