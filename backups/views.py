"""The backups page of a project, "Run drill now", and a database's schedules (admins).

A database's panel is a partial of the page: the drill button answers an HTMX request with the
panel re-rendered (polling while the drill is queued or running), a plain form post with a
redirect back to the page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import PreflightError
from core.web.forms import add_service_errors
from core.web.rendering import is_htmx, render_page_or_partial
from releases.access import Permission
from releases.page_access import ProjectAccess, project_for

from . import schedules
from .forms import ScheduleForm
from .models import Database
from .panels import database_panel, database_panels
from .services.drills import drill_request, drills_unavailable
from .services.schedules import SCHEDULE_FIELDS, database_schedule_change

TEMPLATE = "backups/page.html"


def _context(access: ProjectAccess, **extra: Any) -> dict[str, Any]:
    return {
        "project": access.project,
        "access": access,
        "may_drill": access.can(Permission.DRILL),
        "may_schedule": access.can(Permission.SCHEDULE),
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


@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """The form for a database's backup, drill and WAL schedules; project admins only."""
    access = project_for(request, slug, Permission.SCHEDULE)
    database = _database(access, name)
    status = 200
    if request.method == "POST":
        form = ScheduleForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                database_schedule_change(actor=access.actor, database=database, **form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            except PreflightError as error:
                messages.error(request, error.detail)
                status = error.status
            else:
                messages.success(
                    request,
                    f"The schedules of {database.name} are saved; beat follows them within "
                    f"{settings.PREFLIGHT_BEAT_REFRESH_SECONDS} seconds.",
                )
                return redirect(reverse("backups", args=[slug]) + f"#database-{name}")
    else:
        form = ScheduleForm(initial={field: getattr(database, field) for field in SCHEDULE_FIELDS})
    return TemplateResponse(
        request,
        "backups/schedule.html",
        _context(
            access,
            database=database,
            form=form,
            time_zone=settings.TIME_ZONE,
            min_seconds=int(schedules.MIN_INTERVAL.total_seconds()),
        ),
        status=status,
    )
