"""The release page for one environment, and the actions taken on it.

Reads: GET the page; an HTMX request for a part of it (the checks list when filtering, the
readiness panel while a run is polled) gets that part of the same template. Actions: POST;
on success an HTMX request gets the page's live area re-rendered, a plain post a redirect;
a form with errors comes back in place (422), a refusal with its reason (403/409/412)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import retarget

from preflight.errors import PreflightError
from preflight.web.access import project_for
from preflight.web.forms import add_service_errors
from preflight.web.rendering import is_htmx, render_page_or_partial
from releases.access import Permission
from releases.forms import ApprovalForm, BreakGlassForm, DeployForm, FinishForm
from releases.models import Deployment
from releases.services.approvals import approval_record
from releases.services.deployments import deployment_finish, deployment_start

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
READABLE_PARTS = {"checks": "checks", "readiness": "readiness", "release-live": "live"}


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
        part = READABLE_PARTS.get(request.htmx.target or "", "live")  # type: ignore[attr-defined]
        if part == "readiness" and not ctx["running"]:
            # The run being polled has ended: send the final state, the panels it changes
            # (out of band), and stop the polling.
            body = render_to_string(f"{TEMPLATE}#readiness", ctx, request)
            for changed in ("decisions", "checklists"):
                body += render_to_string(f"{TEMPLATE}#{changed}", ctx | {"oob": True}, request)
            return HttpResponse(body, status=286)
        return render_page_or_partial(request, TEMPLATE, part, ctx)
    return render_page_or_partial(request, TEMPLATE, "live", ctx)


# Actions ---------------------------------------------------------------------------------


def _rebuilt(
    page: ReleaseTarget, request: HttpRequest, forms: dict[str, Any] | None = None
) -> ReleasePage:
    """The page as it stands after an action (the gate may have changed)."""
    return build_page(page.access, page.release, page.environment, forms=forms)


def _done(
    request: HttpRequest, page: ReleaseTarget, message: str, anchor: str = ""
) -> HttpResponse:
    messages.success(request, message)
    if not is_htmx(request):
        return redirect(page.url + (f"#{anchor}" if anchor else ""))
    fresh = _rebuilt(page, request)
    return render_page_or_partial(request, TEMPLATE, "live", release_page_data.context(fresh))


def _invalid(
    request: HttpRequest, page: ReleaseTarget, part: str, target: str, forms: dict[str, Any]
) -> HttpResponse:
    """Re-render the form's own part with its errors (422), in place."""
    fresh = _rebuilt(page, request, forms)
    response = render_page_or_partial(
        request, TEMPLATE, part, release_page_data.context(fresh), status=422
    )
    if is_htmx(request):
        response = retarget(response, f"#{target}")
        response["HX-Reswap"] = "outerHTML"
    return response


def _refused(request: HttpRequest, page: ReleaseTarget, error: PreflightError) -> HttpResponse:
    """A conflict the user could not see coming (the gate closed meanwhile, the environment got
    busy): say so and show the page as it is now."""
    messages.error(request, error.detail)
    return _as_it_is(request, page, status=error.status)


def _as_it_is(request: HttpRequest, page: ReleaseTarget, *, status: int) -> HttpResponse:
    """The page's live area as it stands now, with the status of what went wrong."""
    fresh = _rebuilt(page, request)
    return render_page_or_partial(
        request, TEMPLATE, "live", release_page_data.context(fresh), status=status
    )


@require_POST
def run_checks(request: HttpRequest, slug: str, version: str, env_slug: str) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.RUN_CHECKS)
    run, created = run_start(
        actor=page.access.actor, release=page.release, environment=page.environment
    )
    message = (
        f"Readiness run #{run.pk} started."
        if created
        else f"Readiness run #{run.pk} is already going; showing its progress."
    )
    return _done(request, page, message, anchor="readiness")


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
                return _done(
                    request,
                    page,
                    f"You {verb} {page.release.version} for {page.environment.name}.",
                    anchor="decisions",
                )
    return _invalid(request, page, "decisions", "decisions", {"approval": form})


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
            return _done(request, page, message, anchor="history")
    return _invalid(request, page, "decisions", "decisions", {form_key: form})


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


@require_POST
def finish_deployment(
    request: HttpRequest, slug: str, version: str, env_slug: str, deployment_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.DEPLOY)
    deployment = get_object_or_404(Deployment, pk=deployment_id, release=page.release)
    form = FinishForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Finish a deployment as succeeded or failed.")
        return _as_it_is(request, page, status=422)
    try:
        deployment_finish(
            actor=page.access.actor,
            deployment=deployment,
            status=form.cleaned_data["status"],
            detail=form.cleaned_data["detail"],
        )
    except PreflightError as error:
        return _refused(request, page, error)
    return _done(
        request,
        page,
        f"Deployment #{deployment.pk} marked {form.cleaned_data['status']}.",
        "history",
    )


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
            return _done(request, page, f"{check.code} {state}.", anchor=f"item-{check.pk}")
    return _invalid(request, page, "checklists", "checklists", {f"tick-{check.pk}": form})


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
            return _refused(request, page, error)
        else:
            return _done(request, page, f"You attested {check.code}.", anchor=f"item-{check.pk}")
    return _invalid(request, page, "checklists", "checklists", {f"attest-{check.pk}": form})


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
    code = attestation.tick.check_item.code
    return _done(request, page, f"The attestation of {code} is withdrawn.")


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
            return _refused(request, page, error)
        else:
            return _done(request, page, f"{check.code} waived for {page.release.version}.")
    return _invalid(request, page, "checks", "checks", {"waivers": {check.pk: form}})


@require_POST
def revoke_waiver(
    request: HttpRequest, slug: str, version: str, env_slug: str, waiver_id: int
) -> HttpResponse:
    page = _target(request, slug, version, env_slug, Permission.WAIVE)
    waiver = get_object_or_404(Waiver, pk=waiver_id, release=page.release)
    waiver_revoke(actor=page.access.actor, waiver=waiver)
    return _done(request, page, f"The waiver of {waiver.check_item.code} is revoked.")
