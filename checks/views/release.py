"""The release page for one environment, and the actions taken on it.

Reads: GET the page; an HTMX request for a part of it (the checks list when filtering, the
readiness details while a run is polled) gets that part of the same template. Actions: POST.
A plain post is answered with a redirect back to the page (the flash message says what
happened). An HTMX post is answered with only what changed: the element acted on, with the
message beside it and focus on it (``data-focus``, static/js/preflight.js), and out of band the
other parts the action changes — the decision (the gate may have moved), the score breakdown,
the deployments. A form with errors comes back in place (422), a refusal with its reason
(403/409/412)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from checks.services.approvals import approval_record
from checks.services.deployments import (
    deployment_finish,
    deployment_rollback,
    deployment_start,
)
from core.errors import PreflightError
from core.web.forms import add_service_errors
from core.web.rendering import is_htmx
from releases.access import Permission
from releases.forms import ApprovalForm, BreakGlassForm, DeployForm, FinishForm, RollbackForm
from releases.models import Deployment
from releases.page_access import project_for
from releases.services.locks import lock_release

from ..forms import AttestForm, TickForm, WaiverForm
from ..models import Attestation, Check, ReadinessRun, Waiver
from ..services.attestations import attestation_record, attestation_withdraw
from ..services.results import tick_record
from ..services.runs import run_start
from ..services.waivers import waiver_grant, waiver_revoke
from . import page as release_page_data
from .page import ReleasePage, ReleaseTarget, build_page, load_release

TEMPLATE = "checks/release.html"
# Parts of the page an HTMX GET may ask for by its target's id.
READABLE_PARTS = {"checks": "checks", "readiness": "readiness", "decision": "decision"}
# What an action on the decision changes besides it.
AROUND_THE_DECISION = ("env-nav", "history")


@dataclass(frozen=True)
class Notice:
    """A message shown beside what it is about: ``where`` names the part ("decision", "item",
    "check", "waivers"), ``pk`` the check for an item or a check row."""

    text: str
    level: str = "success"
    where: str = "decision"
    pk: int | None = None


def _target(
    request: HttpRequest, slug: str, version: str, env_slug: str, permission: Permission
) -> ReleaseTarget:
    access = project_for(request, slug, permission)
    release, environment = load_release(access, version, env_slug)
    return ReleaseTarget(access, release, environment)


@require_GET
def release_page(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    target = _target(request, slug, version, env_slug, Permission.VIEW)
    page = build_page(target.access, target.release, target.environment, query=request.GET)
    ctx = release_page_data.context(page)
    if is_htmx(request):
        part = READABLE_PARTS.get(request.htmx.target or "")  # type: ignore[attr-defined]
        if part is None:
            return HttpResponse(render_to_string(TEMPLATE, ctx, request))
        if part == "readiness" and not ctx["running"]:
            # The run being polled has ended: send the final state, the parts it changes
            # (out of band), and stop the polling.
            return _parts(request, ctx, "readiness", ("decision", "checklists", "env-nav"), 286)
        return _parts(request, ctx, part, ())
    return HttpResponse(render_to_string(TEMPLATE, ctx, request))


# Actions ---------------------------------------------------------------------------------


PER_ITEM = ("check-row", "checklist-item")


def _parts(
    request: HttpRequest,
    ctx: dict[str, Any],
    primary: str,
    around: tuple[str, ...],
    status: int = 200,
    items: dict[str, Any] | None = None,
) -> HttpResponse:
    """``primary`` (the element the request targets) and, out of band, the parts ``around``
    it that changed. ``items`` holds the checklist item and the check row that the per-item
    parts render; one that is not on the page (a filtered list) is left out."""
    items = items or {}
    body = ""
    for part, oob in ((primary, False), *((part, True) for part in around)):
        if part in PER_ITEM and items.get(part) is None:
            continue
        extra = {"oob": oob, "item": items.get(part)} if part in PER_ITEM else {"oob": oob}
        body += render_to_string(f"{TEMPLATE}#{part}", ctx | extra, request)
    return HttpResponse(body, status=status)


def _fresh(page: ReleaseTarget, forms: dict[str, Any] | None = None) -> ReleasePage:
    """The page as it stands after an action (the gate may have changed)."""
    return build_page(page.access, page.release, page.environment, forms=forms)


def _anchor_of(notice: Notice) -> str:
    if notice.where == "item":
        return f"item-{notice.pk}"
    if notice.where == "check":
        return f"check-{notice.pk}"
    return notice.where


def _answer(
    request: HttpRequest,
    page: ReleaseTarget,
    notice: Notice,
    *,
    around: tuple[str, ...] = AROUND_THE_DECISION,
    forms: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """After an action: for HTMX the part acted on with ``notice`` beside it and the parts
    around it; for a plain post a redirect back to that part (or, for a form with errors,
    the whole page with them)."""
    if not is_htmx(request):
        if status == 200:
            level = messages.ERROR if notice.level == "error" else messages.SUCCESS
            messages.add_message(request, level, notice.text)
            return redirect(f"{page.url}#{_anchor_of(notice)}")
        fresh = _fresh(page, forms)
        ctx = release_page_data.context(fresh, notice=notice)
        return HttpResponse(render_to_string(TEMPLATE, ctx, request), status=status)
    fresh = _fresh(page, forms)
    ctx = release_page_data.context(fresh, notice=notice)
    items = {
        "checklist-item": _checklist_item(ctx, notice.pk),
        "check-row": _check_row(ctx, notice.pk),
    }
    primary = {"item": "checklist-item", "check": "check-row"}.get(notice.where, notice.where)
    if primary in PER_ITEM and items[primary] is None:
        # No longer on the page (filtered out meanwhile): say so beside the decision.
        primary, ctx = "decision", ctx | {"notice": Notice(notice.text, notice.level)}
        around = tuple(part for part in around if part != "decision")
    return _parts(request, ctx, primary, around, status, items)


def _checklist_item(ctx: dict[str, Any], check_id: int | None) -> Any:
    for _, items in ctx["checklists"]:
        for item in items:
            if item.check.pk == check_id:
                return item
    return None


def _check_row(ctx: dict[str, Any], check_id: int | None) -> Any:
    for row in ctx["rows"]:
        for item in row.items:
            if item.check.pk == check_id:
                return item
    return None


def _refused(request: HttpRequest, page: ReleaseTarget, error: PreflightError) -> HttpResponse:
    """A conflict the user could not see coming (the gate closed meanwhile, the environment got
    busy): say so beside the decision, and show it as it is now."""
    return _answer(request, page, Notice(error.detail, "error"), status=error.status)


def _invalid(
    request: HttpRequest,
    page: ReleaseTarget,
    forms: dict[str, Any],
    notice: Notice,
) -> HttpResponse:
    """The form's own part again with its errors (422), in place."""
    return _answer(request, page, notice, around=(), forms=forms, status=422)


CORRECT = "Correct the marked fields and send it again."


# What a tick, an attestation or a waiver changes besides the item itself.
AROUND_A_RESULT = ("decision", "breakdown", "approvals-history")


@require_POST
def run_checks(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.RUN_CHECKS)
    run, created = run_start(
        actor=page.access.actor, release=page.release, environment=page.environment
    )
    message = (
        f"Readiness run #{run.pk} started: its results appear below as they arrive."
        if created
        else f"Readiness run #{run.pk} is already going; its progress is below."
    )
    return _answer(request, page, Notice(message), around=("readiness",))


@require_POST
def approve(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.APPROVE)
    form = ApprovalForm(request.POST, auto_id="id_approval_%s")
    if form.is_valid():
        run = None
        if form.cleaned_data["run"]:
            # Only this project's runs: another project's is answered like a missing one.
            run = ReadinessRun.objects.filter(
                pk=form.cleaned_data["run"], release__project=page.access.project
            ).first()
            if run is None:
                form.add_error(None, "That readiness run no longer exists; reload the page.")
        if not form.errors:
            try:
                approval = approval_record(
                    actor=page.access.actor,
                    release=page.release,
                    environment=page.environment,
                    decision=form.cleaned_data["decision"],
                    comment=form.cleaned_data["comment"],
                    run=run,
                    seen=form.cleaned_data["evidence"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                verb = "approved" if approval.decision == "approve" else "rejected"
                return _answer(
                    request,
                    page,
                    Notice(f"You {verb} {page.release.version} for {page.environment.name}."),
                    around=("approvals-history",),
                )
    return _invalid(request, page, {"approval": form}, Notice(CORRECT, "error"))


def _start_deployment(
    request: HttpRequest, page: ReleaseTarget, form: DeployForm | BreakGlassForm, form_key: str
) -> HttpResponse:
    """Deploy and break glass differ only in the form (break glass gives a reason, which the
    service accepts from admins only) and in what the user is told."""
    if form.is_valid():
        override_reason = form.cleaned_data.get("override_reason", "")
        try:
            deployment = deployment_start(
                actor=page.access.actor,
                release=page.release,
                environment=page.environment,
                strategy=form.cleaned_data["strategy"],
                override_reason=override_reason,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PreflightError as error:
            return _refused(request, page, error)
        else:
            if override_reason:
                message = (
                    f"Break glass: deployment #{deployment.pk} started with the gate closed. "
                    "It is recorded in the audit log."
                )
            else:
                message = (
                    f"Deployment #{deployment.pk} of {page.release.version} to "
                    f"{page.environment.name} started."
                )
            return _answer(request, page, Notice(message))
    return _invalid(request, page, {form_key: form}, Notice(CORRECT, "error"))


@require_POST
def deploy(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.DEPLOY)
    form = DeployForm(request.POST, auto_id="id_deploy_%s")
    return _start_deployment(request, page, form, "deploy")


@require_POST
def break_glass(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.OVERRIDE)
    form = BreakGlassForm(request.POST, auto_id="id_override_%s")
    return _start_deployment(request, page, form, "override")


def _deployment_here(page: ReleaseTarget, deployment_id: int) -> Deployment:
    """A deployment of the release in the page's environment, or the rollback that replaces
    one (finished from the page of the release it rolls back)."""
    deployment = get_object_or_404(
        Deployment.objects.select_related("release", "environment__project"),
        pk=deployment_id,
        environment=page.environment,
    )
    if deployment.release_id != page.release.pk and not (
        deployment.rollback_of_id is not None
        and Deployment.objects.filter(pk=deployment.rollback_of_id, release=page.release).exists()
    ):
        raise Http404("No such deployment of this release.")
    return deployment


@require_POST
def finish_deployment(
    request: HttpRequest, slug: str, version: str, env_slug: str, deployment_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.DEPLOY)
    deployment = _deployment_here(page, deployment_id)
    form = FinishForm(request.POST)
    if not form.is_valid():
        notice = Notice("Finish a deployment as succeeded or failed.", "error")
        return _answer(request, page, notice, status=422)
    try:
        deployment_finish(
            actor=page.access.actor,
            deployment=deployment,
            status=form.cleaned_data["status"],
            detail=form.cleaned_data["detail"],
        )
    except PreflightError as error:
        return _refused(request, page, error)
    notice = Notice(f"Deployment #{deployment.pk} marked {form.cleaned_data['status']}.")
    return _answer(request, page, notice)


@require_POST
def rollback(
    request: HttpRequest, slug: str, version: str, env_slug: str, deployment_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.ROLLBACK)
    deployment = _deployment_here(page, deployment_id)
    form = RollbackForm(request.POST, auto_id="id_rollback_%s")
    if form.is_valid():
        try:
            done = deployment_rollback(
                actor=page.access.actor, deployment=deployment, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PreflightError as error:
            return _refused(request, page, error)
        else:
            message = (
                f"Rollback #{done.pk} started: {page.environment.name} goes back to "
                f"{done.release.version}, and stays locked until an admin unlocks it."
            )
            return _answer(request, page, Notice(message))
    return _invalid(request, page, {"rollback": form}, Notice(CORRECT, "error"))


@require_POST
def unlock(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.MANAGE)
    try:
        lock_release(actor=page.access.actor, environment=page.environment)
    except PreflightError as error:
        return _refused(request, page, error)
    return _answer(request, page, Notice(f"{page.environment.name} is unlocked."))


@require_POST
def tick(
    request: HttpRequest, slug: str, version: str, env_slug: str, check_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.TICK)
    check = get_object_or_404(Check, pk=check_id, project=page.access.project)
    form = TickForm(request.POST, auto_id=f"id_tick_{check.pk}_%s")
    if form.is_valid():
        try:
            tick_record(
                actor=page.access.actor,
                release=page.release,
                environment=page.environment,
                check=check,
                ticked=form.cleaned_data["ticked"],
                note=form.cleaned_data["note"],
                evidence_url=form.cleaned_data["evidence_url"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            state = "ticked" if form.cleaned_data["ticked"] else "unticked"
            notice = Notice(f"{check.code} {state}.", where="item", pk=check.pk)
            return _answer(request, page, notice, around=(*AROUND_A_RESULT, "check-row"))
    notice = Notice(CORRECT, "error", where="item", pk=check.pk)
    return _invalid(request, page, {f"tick-{check.pk}": form}, notice)


@require_POST
def attest(
    request: HttpRequest, slug: str, version: str, env_slug: str, check_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.ATTEST)
    check = get_object_or_404(Check, pk=check_id, project=page.access.project)
    form = AttestForm(request.POST, auto_id=f"id_attest_{check.pk}_%s")
    if form.is_valid():
        try:
            attestation_record(
                actor=page.access.actor,
                release=page.release,
                environment=page.environment,
                check=check,
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PreflightError as error:
            notice = Notice(error.detail, "error", where="item", pk=check.pk)
            return _answer(request, page, notice, around=(), status=error.status)
        else:
            notice = Notice(f"You attested {check.code}.", where="item", pk=check.pk)
            return _answer(request, page, notice, around=(*AROUND_A_RESULT, "check-row"))
    notice = Notice(CORRECT, "error", where="item", pk=check.pk)
    return _invalid(request, page, {f"attest-{check.pk}": form}, notice)


@require_POST
def withdraw_attestation(
    request: HttpRequest, slug: str, version: str, env_slug: str, attestation_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.ATTEST)
    attestation = get_object_or_404(
        Attestation.objects.select_related(
            "tick__release__project", "tick__environment", "tick__check_item", "attested_by"
        ),
        pk=attestation_id,
        tick__release=page.release,
        tick__environment=page.environment,
    )
    attestation_withdraw(actor=page.access.actor, attestation=attestation)
    check = attestation.tick.check_item
    notice = Notice(f"The attestation of {check.code} is withdrawn.", where="item", pk=check.pk)
    return _answer(request, page, notice, around=(*AROUND_A_RESULT, "check-row"))


@require_POST
def waive(
    request: HttpRequest, slug: str, version: str, env_slug: str, check_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.WAIVE)
    check = get_object_or_404(Check, pk=check_id, project=page.access.project)
    form = WaiverForm(request.POST, auto_id=f"id_waive_{check.pk}_%s")
    if form.is_valid():
        try:
            waiver_grant(
                actor=page.access.actor,
                release=page.release,
                check=check,
                reason=form.cleaned_data["reason"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PreflightError as error:
            notice = Notice(error.detail, "error", where="check", pk=check.pk)
            return _answer(request, page, notice, around=(), status=error.status)
        else:
            notice = Notice(
                f"{check.code} waived for {page.release.version}.", where="check", pk=check.pk
            )
            return _answer(request, page, notice, around=(*AROUND_A_RESULT, "waivers"))
    notice = Notice(CORRECT, "error", where="check", pk=check.pk)
    return _invalid(request, page, {"waivers": {check.pk: form}}, notice)


@require_POST
def revoke_waiver(
    request: HttpRequest, slug: str, version: str, env_slug: str, waiver_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.WAIVE)
    waiver = get_object_or_404(Waiver, pk=waiver_id, release=page.release)
    waiver_revoke(actor=page.access.actor, waiver=waiver)
    notice = Notice(f"The waiver of {waiver.check_item.code} is revoked.", where="waivers")
    return _answer(request, page, notice, around=(*AROUND_A_RESULT, "checks"))
