"""The audit log pages: filters, keyset pages, exports, and the chain's state.

The reading and exporting live in the audit app (audit.log, audit.exports), which knows nothing
of projects' members; this module is where a request becomes "this person may read these
events": a project's page shows its events to its members (auditors are viewers; an outsider
gets 404), and the all-projects page shows a person every event they may read: those of each
project they are a member of and, to staff, the events of no project (sign-ins, failed logins,
refused requests, exports of several projects).

The chain's state is the newest stored verification (audit.verification), shown apart from the
rows: a page view never reads and hashes the whole chain, and nothing on the page counts rows
it does not list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit import log
from audit.actors import Actor
from audit.exports import FORMATS, audit_export
from audit.forms import AuditFilterForm
from audit.verification import latest_verification
from core.web.paging import page_links
from core.web.rendering import is_htmx, render_page_or_partial
from releases.models import Project
from releases.page_access import actor_of, project_for

TEMPLATE = "audit/log.html"


@dataclass(frozen=True)
class Scope:
    """Whose events a request may read, and where its page and export live."""

    actor: Actor
    project: Project | None
    projects: dict[int, Project]
    log_url: str
    export_url: str
    file_prefix: str
    # Events of no project: staff only, and only on the all-projects page.
    unscoped: bool = False


def _project_scope(request: HttpRequest, slug: str) -> Scope:
    access = project_for(request, slug)
    project = access.project
    return Scope(
        actor=access.actor,
        project=project,
        projects={project.pk: project},
        log_url=reverse("audit-log", args=[slug]),
        export_url=reverse("audit-export", args=[slug]),
        file_prefix=f"{slug}-audit",
    )


def _all_projects_scope(request: HttpRequest) -> Scope:
    projects = Project.objects.filter(memberships__user=request.user).order_by("name")  # type: ignore[misc]
    return Scope(
        actor=actor_of(request),
        project=None,
        projects={p.pk: p for p in projects},
        log_url=reverse("audit-all"),
        export_url=reverse("audit-all-export"),
        file_prefix="preflight-audit",
        unscoped=bool(getattr(request.user, "is_staff", False)),
    )


def _context(scope: Scope, form: AuditFilterForm) -> dict[str, Any]:
    return {
        "project": scope.project,
        "scope": scope,
        "form": form,
        "nav_section": "audit",
        "verification": None,
    }


def _log(request: HttpRequest, scope: Scope) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context = _context(scope, form)
    if not is_htmx(request):
        # The chain's status sits outside the log body that filtering and paging swap.
        context["verification"] = latest_verification()
    if not form.is_valid():
        return render_page_or_partial(request, TEMPLATE, "log-body", context, status=422)
    filters = form.filters()
    page = log.page(
        log.events(scope.projects, filters, unscoped=scope.unscoped),
        before=form.cleaned_data.get("before"),
    )
    for event in page.events:
        event.project = scope.projects.get(event.project_id or 0)  # type: ignore[attr-defined]
    query = request.GET.copy()
    context |= {
        "page": page,
        "filters": filters,
        **page_links(query, page.next_before),
        "export_fields": [(k, v) for k, v in query.items() if v and k != "before"],
    }
    return render_page_or_partial(request, TEMPLATE, "log-body", context)


def _export(request: HttpRequest, scope: Scope) -> HttpResponseBase:
    form = AuditFilterForm(request.POST)
    fmt = request.POST.get("format", "")
    if fmt not in FORMATS:
        form.is_valid()
        form.add_error(None, "Choose CSV or JSON Lines.")
    if not form.is_valid():
        return render_page_or_partial(
            request, TEMPLATE, "log-body", _context(scope, form), status=422
        )
    filters = form.filters()
    lines = audit_export(
        actor=scope.actor,
        project_id=scope.project.pk if scope.project else None,
        projects=sorted(p.slug for p in scope.projects.values()),
        qs=log.events(scope.projects, filters, unscoped=scope.unscoped),
        unscoped=scope.unscoped,
        filters=filters,
        fmt=fmt,
    )
    content_type, extension = FORMATS[fmt]
    response = StreamingHttpResponse(lines, content_type=content_type)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="{scope.file_prefix}-{stamp}.{extension}"'
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def audit_log(request: HttpRequest, slug: str) -> HttpResponse:
    return _log(request, _project_scope(request, slug))


@require_POST
def audit_export_view(request: HttpRequest, slug: str) -> HttpResponseBase:
    """Stream the filtered log as CSV or JSON Lines. A POST: the export is itself recorded."""
    return _export(request, _project_scope(request, slug))


@require_GET
def all_projects_audit_log(request: HttpRequest) -> HttpResponse:
    return _log(request, _all_projects_scope(request))


@require_POST
def all_projects_audit_export(request: HttpRequest) -> HttpResponseBase:
    return _export(request, _all_projects_scope(request))
