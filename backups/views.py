"""The backups page of a project, and "Run drill now".

A database's panel is a partial of the page: the drill button answers an HTMX request with the
panel re-rendered (polling while the drill is queued or running), a plain form post with a
redirect back to the page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from preflight.errors import PreflightError
from preflight.web.access import ProjectAccess, project_for
from preflight.web.rendering import is_htmx, render_page_or_partial
from releases.access import Permission

from .models import Database
from .panels import database_panel, database_panels
from .services.drills import drill_request, drills_unavailable

TEMPLATE = "backups/page.html"


def _context(access: ProjectAccess, **extra: Any) -> dict[str, Any]:
    return {
        "project": access.project,
        "access": access,
        "may_drill": access.can(Permission.DRILL),
        "nav_section": "backups",
        **extra,
    }


@require_GET
def backups_page(request: HttpRequest, slug: str) -> HttpResponse:
    access = project_for(request, slug)
    databases = list(
        Database.objects.filter(project=access.project).select_related("project").order_by("name")
    )
    panels = database_panels(databases, now=timezone.now())
    return render_page_or_partial(request, TEMPLATE, "databases", _context(access, panels=panels))


def _database(access: ProjectAccess, name: str) -> Database:
    return get_object_or_404(
        Database.objects.select_related("project"), project=access.project, name=name
    )


@require_GET
def database_panel_view(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One database's panel: what a panel polls while a drill runs."""
    access = project_for(request, slug)
    database = _database(access, name)
    if not is_htmx(request):
        return redirect(reverse("backups", args=[slug]) + f"#database-{name}")
    panel = database_panel(database)
    return render_page_or_partial(request, TEMPLATE, "database", _context(access, panel=panel))


@require_POST
def drill_now(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    access = project_for(request, slug, Permission.DRILL)
    database = _database(access, name)
    status, refused = 200, ""
    unavailable = drills_unavailable(database)
    try:
        if unavailable is not None:
            # A page from before the variable was unset still shows the button: a drill
            # queued now could only fail in the worker.
            raise ValidationError(unavailable.problem)
        drill = drill_request(actor=access.actor, database=database)
    except ValidationError as error:
        refused, status = " ".join(error.messages), 422
    except PreflightError as error:
        refused, status = error.detail, error.status
    else:
        messages.success(
            request, f"Restore drill #{drill.pk} of {database.name} is {drill.status}."
        )
    if refused:
        messages.error(request, refused)
    if not is_htmx(request):
        return redirect(reverse("backups", args=[slug]) + f"#database-{name}")
    panel = database_panel(_database(access, name))
    panel.start_error = refused
    return render_page_or_partial(
        request, TEMPLATE, "database", _context(access, panel=panel), status=status
    )
