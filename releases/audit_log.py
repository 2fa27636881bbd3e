"""A project's audit log page: filters, keyset pages, exports, and the chain's state.

The reading and exporting live in the audit app (audit.log, audit.exports), which knows nothing
of projects' members; this module is where a request becomes "this member may read this
project's events". Every member may (auditors are viewers); an outsider gets 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import log
from audit.chain import verify_chain
from audit.exports import FORMATS, audit_export
from audit.forms import AuditFilterForm
from audit.models import AuditEvent
from preflight.web.access import project_for
from preflight.web.rendering import is_htmx, render_page_or_partial

TEMPLATE = "audit/log.html"
# Up to this many events the chain is verified on every page view (a few milliseconds); past it,
# on demand, since verifying reads and hashes every event.
VERIFY_INLINE_UP_TO = 5000


@require_GET
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    access = project_for(request, slug)
    form = AuditFilterForm(request.GET)
    context: dict[str, Any] = {
        "project": access.project,
        "access": access,
        "form": form,
        "nav_section": "audit",
    }
    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    verify_now = head <= VERIFY_INLINE_UP_TO or bool(request.GET.get("verify"))
    context |= {"chain_head": head, "chain": verify_chain() if verify_now else None}
    if is_htmx(request) and request.GET.get("verify"):
        return render_page_or_partial(request, TEMPLATE, "chain-status", context)
    if not form.is_valid():
        return render_page_or_partial(request, TEMPLATE, "log-body", context, status=422)
    filters = form.filters()
    page = log.page(
        log.events([access.project.pk], filters), before=form.cleaned_data.get("before")
    )
    query = request.GET.copy()
    for key in ("before", "verify"):
        query.pop(key, None)
    context |= {
        "page": page,
        "filters": filters,
        "filter_query": query.urlencode(),
        "export_fields": [(k, v) for k, v in query.items() if v],
    }
    return render_page_or_partial(request, TEMPLATE, "log-body", context)


@require_POST
def audit_export_view(request: HttpRequest, slug: str) -> HttpResponseBase:
    """Stream the filtered log as CSV or JSON Lines. A POST: the export is itself recorded."""
    access = project_for(request, slug)
    form = AuditFilterForm(request.POST)
    fmt = request.POST.get("format", "")
    if fmt not in FORMATS:
        form.is_valid()
        form.add_error(None, "Choose CSV or JSON Lines.")
    if not form.is_valid():
        context = {"project": access.project, "access": access, "form": form}
        context |= {"chain_head": 0, "chain": None, "nav_section": "audit"}
        return render_page_or_partial(request, TEMPLATE, "log-body", context, status=422)
    filters = form.filters()
    lines = audit_export(
        actor=access.actor,
        project_id=access.project.pk,
        qs=log.events([access.project.pk], filters),
        filters=filters,
        fmt=fmt,
    )
    content_type, extension = FORMATS[fmt]
    response = StreamingHttpResponse(lines, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="{access.project.slug}-audit-{stamp}.{extension}"'
    )
    response["Cache-Control"] = "no-store"
    return response
