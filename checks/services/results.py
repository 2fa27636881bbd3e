"""Results that become known outside a run: a person ticking a manual check, a pipeline
reporting a ``ci`` check. Each is kept as history and written into the latest run at once, with
who produced it (``checks.evidence``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from core import text
from core.errors import Denied
from releases.access import Permission, require
from releases.models import Environment, Release

from ..evidence import pipeline_refusal
from ..kinds.ci import outcome_of_report
from ..kinds.manual import outcome_of_tick
from ..models import Check, ManualTick, ReportedResult, ResultStatus
from .runs import results_update_for

REPORTABLE = (ResultStatus.PASS, ResultStatus.WARN, ResultStatus.FAIL, ResultStatus.ERROR)
_URL = URLValidator(schemes=["http", "https"])


def _same_project(release: Release, environment: Environment, check: Check) -> dict[str, str]:
    errors = {}
    if environment.project_id != release.project_id:
        errors["environment"] = "The environment belongs to another project."
    if check.project_id != release.project_id:
        errors["check"] = "The check belongs to another project."
    return errors


URL_MAX_LENGTH = text.LINK


def _valid_url(url: str, field: str, errors: dict[str, str]) -> str:
    url = (url or "").strip()
    if len(url) > URL_MAX_LENGTH:
        errors[field] = f"Give a link of at most {URL_MAX_LENGTH} characters."
    elif url:
        try:
            _URL(url)
        except ValidationError:
            errors[field] = "Give an http(s) link."
    return url


def tick_record(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    check: Check,
    ticked: bool = True,
    note: str = "",
    evidence_url: str = "",
) -> ManualTick:
    """Tick (or untick) a manual check for a release in an environment."""
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="check.ticked" if ticked else "check.unticked",
        obj=release,
        project_id=project.pk,
        attempted={"check": check.code, "environment": environment.slug},
    ):
        require(actor, project, Permission.TICK)
        errors = _same_project(release, environment, check)
        if check.kind != "manual":
            errors["check"] = (
                f"{check.code} is a {check.kind} check; only manual checks are ticked."
            )
        evidence_url = _valid_url(evidence_url, "evidence_url", errors)
        note = (note or "").strip()
        if len(note) > text.COMMENT:
            errors["note"] = text.too_long_message(text.COMMENT, len(note))
        if actor.user is None:
            errors["check"] = "Ticks are made by people."
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            tick = ManualTick.objects.create(
                release=release,
                environment=environment,
                check_item=check,
                ticked=ticked,
                note=note,
                evidence_url=evidence_url,
                ticked_by=actor.user,
            )
            outcome = outcome_of_tick(
                tick, severity=check.severity, created_by_id=release.created_by_id
            )
            results_update_for(
                release=release, environment=environment, check=check, outcome=outcome
            )
            audit.record(
                actor=actor,
                action="check.ticked" if ticked else "check.unticked",
                obj=tick,
                project_id=project.pk,
                after={
                    "release": release.version,
                    "environment": environment.slug,
                    "check": check.code,
                    "note": tick.note,
                    "evidence_url": evidence_url,
                    "counts": outcome.status == ResultStatus.PASS,
                },
            )
    return tick


def ci_result_record(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    check: Check,
    status: str,
    detail: str = "",
    url: str = "",
) -> ReportedResult:
    """A pipeline reports the result of a ``ci`` check for a release in an environment. Only
    the project's service tokens report (those the check names, if it names any): anyone else
    is refused with ``not_a_pipeline``."""
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="check.reported",
        obj=release,
        project_id=project.pk,
        attempted={"check": check.code, "environment": environment.slug, "status": status},
    ):
        # Who may report comes first: a person is refused as such, whatever their role.
        refusal = pipeline_refusal(actor, check)
        if refusal:
            raise Denied(refusal, code="not_a_pipeline")
        require(actor, project, Permission.REPORT)
        errors = _same_project(release, environment, check)
        if check.kind != "ci":
            errors["check"] = f"{check.code} is a {check.kind} check; CI reports only ci checks."
        if status not in REPORTABLE:
            errors["status"] = f"Report one of {', '.join(REPORTABLE)}."
        url = _valid_url(url, "url", errors)
        detail = (detail or "").strip()
        if len(detail) > text.NOTES:
            errors["detail"] = text.too_long_message(text.NOTES, len(detail))
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            report = ReportedResult.objects.create(
                release=release,
                environment=environment,
                check_item=check,
                status=status,
                detail=detail,
                url=url,
                reported_by_label=actor.label,
                token=actor.token,
            )
            results_update_for(
                release=release,
                environment=environment,
                check=check,
                outcome=outcome_of_report(report),
            )
            audit.record(
                actor=actor,
                action="check.reported",
                obj=report,
                project_id=project.pk,
                after={
                    "release": release.version,
                    "environment": environment.slug,
                    "check": check.code,
                    "status": status,
                },
            )
    return report
