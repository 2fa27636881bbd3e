"""Four eyes on evidence: a second person attests the tick the release's creator made on a
critical manual check (``checks.evidence``). Until then the check is ``pending``: it scores
nothing and blocks the gate like any critical check not done.

An attestation is for one tick: unticking, or ticking again, needs a new one. Withdrawing an
attestation (its author or anyone else who may attest) turns the check back to pending; the row
stays as history."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking, text
from core.errors import Conflict, Denied
from releases.access import Permission, require
from releases.models import Environment, Release

from ..evidence import attestation_refusal, needs_attestation
from ..kinds.manual import outcome_of_tick
from ..models import Attestation, Check, CheckResult, ManualTick, ReadinessRun
from .runs import results_update_for


def attestation_record(
    *, actor: Actor, release: Release, environment: Environment, check: Check, note: str = ""
) -> Attestation:
    """Attest the latest tick of a critical manual check that the release's creator made."""
    project = release.project
    note = (note or "").strip()
    with audit.refusals_recorded(
        actor=actor,
        action="check.attested",
        obj=release,
        project_id=project.pk,
        attempted={"check": check.code, "environment": environment.slug},
    ):
        require(actor, project, Permission.ATTEST)
        refusal = attestation_refusal(actor, release)
        if refusal:
            raise Denied(refusal, code="four_eyes")
        if environment.project_id != project.pk or check.project_id != project.pk:
            raise ValidationError({"check": "The check belongs to another project."})
        text.check_lengths(note=(note, text.COMMENT))
        try:
            with transaction.atomic():
                _lock_result(release, environment, check)
                tick = _latest_tick(release, environment, check)
                if tick is None or not tick.ticked:
                    raise ValidationError(
                        {
                            "check": f"{check.code} is not ticked in {environment.name}: there is nothing to attest."
                        }
                    )
                if not needs_attestation(
                    severity=check.severity,
                    created_by_id=release.created_by_id,
                    ticked_by_id=tick.ticked_by_id,
                ):
                    raise ValidationError(
                        {"check": f"{check.code} needs no attestation: it counts as ticked."}
                    )
                attestation = Attestation.objects.create(
                    tick=tick, attested_by=actor.user, note=note
                )
                results_update_for(
                    release=release,
                    environment=environment,
                    check=check,
                    outcome=outcome_of_tick(
                        tick, severity=check.severity, created_by_id=release.created_by_id
                    ),
                )
                audit.record(
                    actor=actor,
                    action="check.attested",
                    obj=attestation,
                    project_id=project.pk,
                    after={
                        "release": release.version,
                        "environment": environment.slug,
                        "check": check.code,
                        "ticked_by": tick.ticked_by.get_username(),
                        "note": note,
                    },
                )
        except IntegrityError:
            raise Conflict(
                f"{check.code} is already attested for {release.version} in {environment.name}.",
                code="already_attested",
            ) from None
    return attestation


def attestation_withdraw(*, actor: Actor, attestation: Attestation) -> Attestation:
    """Take an attestation back: the tick stops counting until someone attests it again."""
    tick = attestation.tick
    release, environment, check = tick.release, tick.environment, tick.check_item
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="check.attestation_withdrawn",
        obj=attestation,
        project_id=project.pk,
    ):
        require(actor, project, Permission.ATTEST)
        if actor.user is None:
            raise Denied("Attestations are withdrawn by people.", code="not_a_person")
        with transaction.atomic():
            _lock_result(release, environment, check)
            attestation = locking.row(Attestation, attestation.pk)
            if attestation.withdrawn_at is not None:
                return attestation
            attestation.withdrawn_at = timezone.now()
            attestation.withdrawn_by = actor.user
            attestation.save(update_fields=["withdrawn_at", "withdrawn_by"])
            latest = _latest_tick(release, environment, check)
            results_update_for(
                release=release,
                environment=environment,
                check=check,
                outcome=outcome_of_tick(
                    latest, severity=check.severity, created_by_id=release.created_by_id
                ),
            )
            audit.record(
                actor=actor,
                action="check.attestation_withdrawn",
                obj=attestation,
                project_id=project.pk,
                before={
                    "release": release.version,
                    "environment": environment.slug,
                    "check": check.code,
                    "attested_by": attestation.attested_by.get_username(),
                },
            )
    return attestation


def _latest_tick(release: Release, environment: Environment, check: Check) -> ManualTick | None:
    return (
        ManualTick.objects.filter(release=release, environment=environment, check_item=check)
        .select_related("ticked_by")
        .order_by("-created_at", "-id")
        .first()
    )


def _lock_result(release: Release, environment: Environment, check: Check) -> None:
    """Lock the check's result in the latest run before reading the latest tick: a tick
    writing that result at the same time holds the row until it commits, so the tick read next
    is the one the result ends up saying (lock order: result, then its run, then the audit)."""
    run_id = (
        ReadinessRun.objects.filter(
            release=release, environment=environment, kind=ReadinessRun.Kind.READINESS
        )
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if run_id is not None:
        list(
            locking.rows(CheckResult.objects)
            .filter(run_id=run_id, check_item=check)
            .values_list("pk", flat=True)
        )
