"""The deployments timeline: every deployment of a project, newest first, with rollbacks linked
to what they rolled back, and the delivery metrics (releases.metrics) over a chosen window.

One GET page; the filter form and the paging links also work as HTMX requests that swap the
page's body partial and push the URL, so the query string always says what is shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.web.charts import BarChart, Point, Series, bar_chart, hours
from core.web.paging import page_links
from core.web.rendering import render_page_or_partial
from releases.page_access import project_for

from .filters import TimelineFilterForm, cursor_of
from .metrics import (
    DEFAULT_WINDOW_DAYS,
    DEFINITIONS,
    DeliveryMetrics,
    EnvironmentMetrics,
    Window,
    delivery_metrics,
)
from .models import Deployment, Environment

PAGE_SIZE = 25
TEMPLATE = "releases/timeline.html"


def _window(data: dict[str, Any]) -> Window:
    today = timezone.now().astimezone(UTC).date()
    since: date | None = data.get("since")
    until: date | None = data.get("until")
    days: int = data.get("window") or DEFAULT_WINDOW_DAYS
    if since:
        return Window.between(since, until or max(since, today))
    if until:
        return Window.between(until - timedelta(days=days - 1), until)
    return Window.last_days(days, now=timezone.now())


def _deployments(
    environments: list[Environment], data: dict[str, Any], window: Window | None
) -> QuerySet[Deployment]:
    qs = Deployment.objects.filter(environment__in=environments)
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if window is not None:
        qs = qs.filter(started_at__gte=window.start, started_at__lt=window.end)
    return qs.select_related(
        "release", "environment", "started_by", "started_by_token", "rollback_of__release"
    ).order_by("-started_at", "-id")


def _page(
    qs: QuerySet[Deployment], before: tuple[datetime, int] | None
) -> tuple[list[Deployment], str | None]:
    if before is not None:
        started, pk = before
        qs = qs.filter(Q(started_at__lt=started) | Q(started_at=started, id__lt=pk))
    rows = list(qs.prefetch_related("rollbacks")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (cursor_of(rows[-1].started_at, rows[-1].pk) if more else None)


@dataclass
class MetricsView:
    """The metrics for the page: a row per environment, and charts for one of them."""

    metrics: DeliveryMetrics
    rows: list[tuple[Environment, EnvironmentMetrics, str]]
    focus: Environment | None
    frequency_chart: BarChart
    failure_chart: BarChart
    lead_chart: BarChart
    restore_chart: BarChart
    definitions: dict[str, str]

    @property
    def lead_time_text(self) -> str:
        lead = self.metrics.lead_time
        return hours(lead.total_seconds()) if lead else ""


def _bucket_label(start: datetime, window: Window) -> str:
    return f"{start:%b %-d}" if window.bucket.days == 1 else f"wk {start:%b %-d}"


def _metrics_view(
    metrics: DeliveryMetrics, environments: list[Environment], focus: Environment | None
) -> MetricsView:
    window = metrics.window
    env_by_id = {e.pk: e for e in environments}
    focus = focus or (env_by_id.get(metrics.production_id) if metrics.production_id else None)
    chosen = metrics.environments.get(focus.pk) if focus else None
    unit = "day" if window.bucket.days == 1 else "week"
    name = focus.name if focus else "—"
    buckets = chosen.buckets if chosen else []
    frequency = bar_chart(
        [
            Point(
                label=_bucket_label(b.start, window),
                values=(b.verified,),
                title=f"{_bucket_label(b.start, window)}: {b.verified} verified",
            )
            for b in buckets
        ],
        series=[Series("verified", "pass")],
        summary=f"Verified deployments per {unit} in {name}: {chosen.verified if chosen else 0} in {window.days} days.",
    )
    failures = bar_chart(
        [
            Point(
                label=_bucket_label(b.start, window),
                values=(b.finished - b.failures, b.failures),
                title=f"{_bucket_label(b.start, window)}: {b.failures} of {b.finished} failed",
            )
            for b in buckets
        ],
        series=[Series("went well", "neutral"), Series("failed or rolled back", "fail")],
        summary=f"Finished deployments per {unit} in {name}, failures on top.",
    )
    lead = bar_chart(
        [
            Point(
                label=lt.version,
                values=(lt.duration.total_seconds(),),
                title=f"{lt.version}: {hours(lt.duration.total_seconds())} from creation to verified in production",
            )
            for lt in metrics.lead_times
        ],
        series=[Series("lead time", "info")],
        summary=(
            f"Lead time per release verified in production: median {hours(metrics.lead_time.total_seconds())}."
            if metrics.lead_time
            else "No release was verified in production in this window."
        ),
        fmt=hours,
    )
    incidents = chosen.restored if chosen else []
    restore = bar_chart(
        [
            Point(
                label=f"{i.failed_at:%b %-d}",
                values=((i.time_to_restore or timedelta(0)).total_seconds(),),
                title=f"Failure {i.failed_at:%Y-%m-%d %H:%M} UTC, restored after {hours((i.time_to_restore or timedelta(0)).total_seconds())}",
            )
            for i in incidents
        ],
        series=[Series("time to restore", "warn")],
        summary=(
            f"Time to restore per incident in {name}: median {hours(chosen.time_to_restore.total_seconds())}."
            if chosen and chosen.time_to_restore
            else f"No failure in {name} was restored in this window."
        ),
        fmt=hours,
    )
    rows = []
    for env in environments:
        m = metrics.environments[env.pk]
        restore_text = hours(m.time_to_restore.total_seconds()) if m.time_to_restore else ""
        rows.append((env, m, restore_text))
    return MetricsView(
        metrics=metrics,
        rows=rows,
        focus=focus,
        frequency_chart=frequency,
        failure_chart=failures,
        lead_chart=lead,
        restore_chart=restore,
        definitions=DEFINITIONS,
    )


@require_GET
def timeline(request: HttpRequest, slug: str) -> HttpResponse:
    access = project_for(request, slug)
    environments = list(Environment.objects.filter(project=access.project).order_by("position"))
    form = TimelineFilterForm(request.GET, environments=environments)
    context: dict[str, Any] = {
        "project": access.project,
        "access": access,
        "form": form,
        "nav_section": "deployments",
    }
    if not form.is_valid():
        return render_page_or_partial(request, TEMPLATE, "timeline-body", context, status=422)
    data = form.cleaned_data
    focus = next((e for e in environments if e.slug == data.get("environment")), None)
    window = _window(data)
    dated = bool(data.get("since") or data.get("until"))
    shown = [focus] if focus else environments
    rows, next_cursor = _page(_deployments(shown, data, window if dated else None), data["before"])
    base = reverse("deployments", args=[access.project.slug])
    for row in rows:
        # Rollbacks link both ways: to the deployment rolled back, and from it to its rollbacks.
        row.rollback_of_url = _link_to(base, row.rollback_of) if row.rollback_of else ""  # type: ignore[attr-defined]
        row.rollback_links = [(r, _link_to(base, r)) for r in row.rollbacks.all()]  # type: ignore[attr-defined]
    context |= {
        "deployments": rows,
        **page_links(request.GET, next_cursor),
        "paged": data["before"] is not None,
        "window": window,
        "view": _metrics_view(
            delivery_metrics(access.project, window, environments=environments),
            environments,
            focus,
        ),
    }
    return render_page_or_partial(request, TEMPLATE, "timeline-body", context)


def _link_to(base: str, deployment: Deployment) -> str:
    """The timeline page that starts with ``deployment``, scrolled to it."""
    cursor = cursor_of(deployment.started_at, deployment.pk + 1)
    return f"{base}?{urlencode({'before': cursor})}#deployment-{deployment.pk}"
