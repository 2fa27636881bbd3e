"""The projects overview and a project's pipeline, with locks and freeze windows for admins.

Reads are GET pages; each admin action is a POST that answers an HTMX request with the
environment's stage re-rendered in place, and a plain form post with a redirect back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from checks.gate import GateDecision, evaluate_gates
from core.errors import PreflightError
from core.web.forms import add_service_errors
from core.web.rendering import is_htmx, render_page_or_partial
from releases.access import Permission
from releases.forms import FreezeForm, LockForm
from releases.models import (
    Deployment,
    DeploymentStatus,
    Environment,
    FreezeWindow,
    Lock,
    Project,
    Release,
)
from releases.models.deployments import GOOD_STATUSES
from releases.page_access import ProjectAccess, project_for
from releases.services.locks import (
    Hold,
    freeze_create,
    freeze_delete,
    holds_of,
    lock_acquire,
    lock_release,
)
from releases.states import EnvironmentState, states_for

RECENT_RELEASES = 8
# Freeze windows that ended this recently are still listed (as past), so one just over or one
# entered by mistake is seen.
PAST_FREEZES_SHOWN = timedelta(days=14)


def environments_with_versions(project: Project) -> list[Environment]:
    """The project's environments in promotion order, each annotated with the version deployed
    there and the one being deployed (two subqueries, whatever the history's length)."""
    return environments_with_versions_of([project])


def environments_with_versions_of(projects: Sequence[Project]) -> list[Environment]:
    """``environments_with_versions`` of several projects at once (in one query), by project
    then promotion order."""
    # A deployment that was rolled back is not what runs there, whatever its status says.
    good = Deployment.objects.filter(
        environment=OuterRef("pk"), status__in=GOOD_STATUSES, rollbacks__isnull=True
    )
    running = Deployment.objects.filter(
        environment=OuterRef("pk"), status=DeploymentStatus.IN_PROGRESS
    )
    return list(
        Environment.objects.filter(project__in=projects)
        .annotate(
            deployed_version=Subquery(
                good.order_by("-started_at", "-id").values("release__version")[:1]
            ),
            deploying_version=Subquery(running.values("release__version")[:1]),
        )
        .order_by("project_id", "position")
    )


@dataclass
class EnvironmentRow:
    environment: Environment
    holds: list[Hold]
    gate: GateDecision | None = None
    state: EnvironmentState | None = None  # the latest release's, there

    @property
    def locks_and_freezes(self) -> list[Hold]:
        """Holds other than the deployment in progress, which has a column of its own."""
        return [hold for hold in self.holds if hold.code != "deployment_in_progress"]


@dataclass
class ProjectCard:
    project: Project
    role: str
    latest: Release | None
    rows: list[EnvironmentRow] = field(default_factory=list)


# The overview evaluates the gate of each project's latest release in each environment: cards
# past this many are fetched one request each as the page loads, so the page's own cost stays
# the same however many projects a person is in. The first cards are built together (see
# _cards), in the same number of queries however many projects and environments they have.
EAGER_CARDS = 6


@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Every project the user is a member of: where each version runs and whether the latest
    release may go further."""
    memberships = list(
        request.user.memberships.select_related("project").order_by("project__name")  # type: ignore[union-attr]
    )
    cards = _cards([(m.project, m.role) for m in memberships[:EAGER_CARDS]])
    later = [m.project for m in memberships[EAGER_CARDS:]]
    return TemplateResponse(request, "releases/overview.html", {"cards": cards, "later": later})


@require_GET
def overview_card(request: HttpRequest, slug: str) -> HttpResponse:
    """One project's card of the overview, fetched by the page for projects past the first few."""
    access = project_for(request, slug, Permission.VIEW)
    [card] = _cards([(access.project, access.role)])
    return TemplateResponse(request, "releases/overview.html#card", {"card": card})


def _cards(projects: Sequence[tuple[Project, str]]) -> list[ProjectCard]:
    """The cards of these projects (each with the user's role there), in the same number of
    queries however many projects and environments: one page shows many at once, and a query
    per card (or per environment) is what made a large organisation's overview slow."""
    if not projects:
        return []
    now = timezone.now()
    latest_of = {
        release.project_id: release
        for release in Release.objects.filter(project__in=[p for p, _ in projects])
        .order_by("project_id", "-created_at", "-id")
        .distinct("project_id")
    }
    environments: dict[int, list[Environment]] = {project.pk: [] for project, _ in projects}
    for environment in environments_with_versions_of([p for p, _ in projects]):
        environments[environment.project_id].append(environment)
    latest = list(latest_of.values())
    every = [environment for each in environments.values() for environment in each]
    gated = [env for env in every if env.project_id in latest_of]
    states = states_for(latest, gated)
    gates = evaluate_gates(latest, gated, now=now)
    # A project with no release yet has no gate to show, only what holds its environments.
    ungated = [env for env in every if env.project_id not in latest_of]
    holds = holds_of(ungated, now) if ungated else {}
    cards = []
    for project, role in projects:
        release = latest_of.get(project.pk)
        card = ProjectCard(project=project, role=role, latest=release)
        for environment in environments[project.pk]:
            if release is not None:
                gate = gates[release.pk, environment.pk]
                state = states[release.pk, environment.pk]
                card.rows.append(EnvironmentRow(environment, list(gate.holds), gate, state))
            else:
                card.rows.append(EnvironmentRow(environment, holds[environment.pk]))
        cards.append(card)
    return cards


@dataclass
class Stage:
    """One environment of the pipeline, with what it holds and what waits to enter it."""

    environment: Environment
    holds: list[Hold]
    lock: Lock | None
    freezes: list[FreezeWindow]
    waiting: list[Release]
    previous: Environment | None
    lock_form: LockForm | None = None
    freeze_form: FreezeForm | None = None


@dataclass(frozen=True)
class Cell:
    """A release in one environment of the pipeline's grid: its state (``releases.states``)
    and, where the question is live, the gate's answer."""

    environment: Environment
    state: EnvironmentState
    gate: GateDecision | None


@dataclass
class ReleaseRow:
    """A recent release and its state in each environment, in promotion order."""

    release: Release
    cells: list[Cell]


@dataclass
class Pipeline:
    stages: list[Stage]
    releases: list[ReleaseRow]


def _newer_than(releases: list[Release], version: str | None) -> list[Release]:
    """The releases (newest first) registered after ``version``; all of them when it is not
    among them."""
    for index, release in enumerate(releases):
        if release.version == version:
            return releases[:index]
    return releases


def _pipeline(
    access: ProjectAccess, forms_for: dict[int, dict[str, Any]] | None = None
) -> Pipeline:
    project = access.project
    environments = environments_with_versions(project)
    releases = list(project.releases.order_by("-created_at", "-id")[:RECENT_RELEASES])
    reached = set(
        Deployment.objects.filter(release__in=releases, status__in=GOOD_STATUSES).values_list(
            "release_id", "environment_id"
        )
    )
    now = timezone.now()
    locks = {
        lock.environment_id: lock
        for lock in Lock.objects.active(now).filter(environment__project=project)
    }
    freezes: dict[int, list[FreezeWindow]] = {}
    for freeze in FreezeWindow.objects.filter(
        environment__project=project, ends_at__gt=now - PAST_FREEZES_SHOWN
    ):
        freeze.shown_state = freeze.state(now)  # type: ignore[attr-defined]
        freezes.setdefault(freeze.environment_id, []).append(freeze)

    holds = holds_of(environments, now)
    stages = []
    previous: Environment | None = None
    for environment in environments:
        # Waiting here: a recent release that reached the previous environment (any recent
        # release, for the first), has not reached this one, and is newer than the release
        # running here (sending an older one would be a rollback, not a promotion).
        waiting = [
            release
            # deployed_version: annotated by environments_with_versions.
            for release in _newer_than(releases, getattr(environment, "deployed_version", None))
            if (release.pk, environment.pk) not in reached
            and (previous is None or (release.pk, previous.pk) in reached)
        ]
        extra = (forms_for or {}).get(environment.pk, {})
        stages.append(
            Stage(
                environment=environment,
                holds=holds[environment.pk],
                lock=locks.get(environment.pk),
                freezes=freezes.get(environment.pk, []),
                waiting=waiting,
                previous=previous,
                lock_form=extra.get("lock_form") or _blank(LockForm, access, environment),
                freeze_form=extra.get("freeze_form") or _blank(FreezeForm, access, environment),
            )
        )
        previous = environment
    states = states_for(releases, environments)
    # The grid shows the gate only where it is the question (a release not there yet, failed or
    # rolled back): the others are not evaluated.
    gates = evaluate_gates(
        releases,
        environments,
        now=now,
        only=[pair for pair, state in states.items() if state.gate_matters],
    )
    rows = [
        ReleaseRow(
            release,
            [
                Cell(env, states[release.pk, env.pk], gates.get((release.pk, env.pk)))
                for env in environments
            ],
        )
        for release in releases
    ]
    return Pipeline(stages=stages, releases=rows)


def field_ids(environment: Environment, form_class: type[Any]) -> str:
    """Each stage has its own forms on one page: their field ids must not collide."""
    return f"id_{environment.slug}_{form_class.__name__.lower()}_%s"


def _blank(form_class: type[Any], access: ProjectAccess, environment: Environment) -> Any:
    if not access.can(Permission.MANAGE):
        return None
    return form_class(auto_id=field_ids(environment, form_class))


def _pipeline_context(access: ProjectAccess, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "project": access.project,
        "access": access,
        "stages": pipeline.stages,
        "releases": pipeline.releases,
        "nav_section": "pipeline",
    }


@require_GET
def pipeline(request: HttpRequest, slug: str) -> HttpResponse:
    access = project_for(request, slug)
    return TemplateResponse(
        request, "releases/pipeline.html", _pipeline_context(access, _pipeline(access))
    )


def _stage_response(
    request: HttpRequest,
    access: ProjectAccess,
    environment: Environment,
    *,
    forms: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """After an action: the environment's stage for HTMX, else back to the pipeline."""
    if not is_htmx(request) and status == 200:
        return redirect(
            reverse("project", args=[access.project.slug]) + f"#stage-{environment.slug}"
        )
    pipeline = _pipeline(access, {environment.pk: forms or {}})
    stage = next(s for s in pipeline.stages if s.environment.pk == environment.pk)
    context = _pipeline_context(access, pipeline) | {"stage": stage}
    if not is_htmx(request):
        return render_page_or_partial(
            request, "releases/pipeline.html", "stage", context, status=status
        )
    # The message goes beside what it is about, in the stage, which takes the focus.
    context["stage_notes"] = list(messages.get_messages(request))
    return HttpResponse(
        render_to_string("releases/pipeline.html#stage", context, request), status=status
    )


def _environment(access: ProjectAccess, env_slug: str) -> Environment:
    return get_object_or_404(Environment, project=access.project, slug=env_slug)


def _conflict(request: HttpRequest, error: PreflightError) -> int:
    """Tell the user why the action was refused; the answer's status says so to the client."""
    messages.error(request, error.detail)
    return error.status


@require_POST
def lock(request: HttpRequest, slug: str, env_slug: str) -> HttpResponse:
    access = project_for(request, slug, Permission.MANAGE)
    environment = _environment(access, env_slug)
    form = LockForm(request.POST, auto_id=field_ids(environment, LockForm))
    status = 422
    if form.is_valid():
        try:
            lock_acquire(
                actor=access.actor,
                environment=environment,
                reason=form.cleaned_data["reason"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PreflightError as error:
            status = _conflict(request, error)
        else:
            messages.success(request, f"{environment.name} is locked.")
            return _stage_response(request, access, environment)
    return _stage_response(request, access, environment, forms={"lock_form": form}, status=status)


@require_POST
def unlock(request: HttpRequest, slug: str, env_slug: str) -> HttpResponse:
    access = project_for(request, slug, Permission.MANAGE)
    environment = _environment(access, env_slug)
    try:
        lock_release(actor=access.actor, environment=environment)
    except PreflightError as error:
        return _stage_response(request, access, environment, status=_conflict(request, error))
    messages.success(request, f"{environment.name} is unlocked.")
    return _stage_response(request, access, environment)


@require_POST
def freeze(request: HttpRequest, slug: str, env_slug: str) -> HttpResponse:
    access = project_for(request, slug, Permission.MANAGE)
    environment = _environment(access, env_slug)
    form = FreezeForm(request.POST, auto_id=field_ids(environment, FreezeForm))
    if form.is_valid():
        try:
            freeze_create(
                actor=access.actor,
                environment=environment,
                starts_at=form.cleaned_data["starts_at"],
                ends_at=form.cleaned_data["ends_at"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Freeze window added to {environment.name}.")
            return _stage_response(request, access, environment)
    return _stage_response(request, access, environment, forms={"freeze_form": form}, status=422)


@require_POST
def unfreeze(request: HttpRequest, slug: str, env_slug: str, freeze_id: int) -> HttpResponse:
    access = project_for(request, slug, Permission.MANAGE)
    environment = _environment(access, env_slug)
    window = get_object_or_404(FreezeWindow, pk=freeze_id, environment=environment)
    freeze_delete(actor=access.actor, freeze=window)
    messages.success(request, f"Freeze window removed from {environment.name}.")
    return _stage_response(request, access, environment)
