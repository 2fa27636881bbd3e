from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from checks.services.approvals import four_eyes_refusal
from core import locking, text
from core.errors import Conflict, Denied
from releases.access import Permission, require
from releases.models import Release

from ..evaluation import WAIVABLE
from ..models import Check, CheckResult, ReadinessRun, Severity, Waiver

MAX_WAIVER = timedelta(days=90)


def waiver_grant(
    *, actor: Actor, release: Release, check: Check, reason: str, expires_at: datetime
) -> Waiver:
    """An approver accepts the risk of a failing, non-critical check for one release until
    ``expires_at``. Critical checks cannot be waived, and the four-eyes rule applies as for
    approvals: the release's creator cannot waive its checks."""
    reason = (reason or "").strip()
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="waiver.granted",
        obj=release,
        project_id=project.pk,
        attempted={"check": check.code},
    ):
        require(actor, project, Permission.WAIVE)
        refusal = four_eyes_refusal(actor, release)
        if refusal:
            raise Denied(refusal.replace("approve", "waive checks of"), code="four_eyes")
        errors: dict[str, str] = {}
        if check.project_id != release.project_id:
            errors["check"] = "The check belongs to another project."
        elif check.severity == Severity.CRITICAL:
            errors["check"] = (
                f"{check.code} is critical: critical checks cannot be waived, only fixed."
            )
        elif not _failing(release, check):
            errors["check"] = (
                f"{check.code} is not failing for {release.version}; there is nothing to waive."
            )
        if not reason:
            errors["reason"] = "Say why the risk is acceptable."
        elif len(reason) > text.REASON:
            errors["reason"] = text.too_long_message(text.REASON, len(reason))
        now = timezone.now()
        if expires_at is None or expires_at <= now:
            errors["expires_at"] = "The waiver must expire in the future."
        elif expires_at - now > MAX_WAIVER:
            errors["expires_at"] = f"A waiver lasts at most {MAX_WAIVER.days} days."
        if errors:
            raise ValidationError(errors)
        try:
            with transaction.atomic():
                Waiver.objects.filter(
                    release=release, check_item=check, revoked_at__isnull=True, expires_at__lte=now
                ).update(revoked_at=now)
                waiver = Waiver.objects.create(
                    release=release,
                    check_item=check,
                    reason=reason,
                    expires_at=expires_at,
                    created_by=actor.user,
                )
                audit.record(
                    actor=actor,
                    action="waiver.granted",
                    obj=waiver,
                    project_id=project.pk,
                    after={
                        "release": release.version,
                        "check": check.code,
                        "reason": reason,
                        "expires_at": expires_at,
                    },
                )
        except IntegrityError:
            raise Conflict(
                f"{check.code} already has an open waiver for {release.version}.",
                code="already_waived",
            ) from None
    return waiver


def _failing(release: Release, check: Check) -> bool:
    """Whether the check fails in the latest finished readiness run of the release somewhere."""
    latest_runs = (
        ReadinessRun.objects.finished()
        .filter(release=release, kind=ReadinessRun.Kind.READINESS)
        .order_by("environment_id", "-finished_at")
        .values_list("environment_id", "pk")
    )
    newest: dict[int, int] = {}
    for environment_id, run_id in latest_runs:
        newest.setdefault(environment_id, run_id)
    return CheckResult.objects.filter(
        run_id__in=newest.values(), check_item=check, status__in=WAIVABLE
    ).exists()


def waiver_revoke(*, actor: Actor, waiver: Waiver) -> Waiver:
    project = waiver.release.project
    with audit.refusals_recorded(
        actor=actor, action="waiver.revoked", obj=waiver, project_id=project.pk
    ):
        require(actor, project, Permission.WAIVE)
        with transaction.atomic():
            waiver = locking.row(Waiver, waiver.pk)
            if waiver.revoked_at is not None:
                return waiver
            waiver.revoked_at = timezone.now()
            waiver.save(update_fields=["revoked_at"])
            audit.record(
                actor=actor,
                action="waiver.revoked",
                obj=waiver,
                project_id=project.pk,
                before={"check": waiver.check_item.code, "reason": waiver.reason},
            )
    return waiver
