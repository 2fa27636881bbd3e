from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from checks.evaluation import evaluate
from checks.models import ReadinessRun
from checks.snapshots import Snapshot
from core import text
from core.errors import Denied
from core.outbox.relay import task_queue
from releases import webhooks
from releases.access import Permission, require
from releases.models import Approval, Decision, Environment, Release


def four_eyes_refusal(actor: Actor, release: Release) -> str | None:
    """Why this actor may not decide on this release under the four-eyes rule, or None.

    The person who created a release never approves (or rejects) it, whichever role they hold
    and whether they come through the browser, a user token, the API or the admin."""
    if actor.user is None:
        return "Approvals are decisions by people; a service token cannot approve."
    if release.created_by_id is not None and release.created_by_id == actor.user.pk:
        return (
            f"{actor.user.get_username()} created release {release.version}; "
            "under the four-eyes rule someone else must approve it."
        )
    return None


def approval_record(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    decision: str,
    comment: str = "",
    run: ReadinessRun | None = None,
    seen: str = "",
) -> Approval:
    """Record a person's decision on a release for an environment, with the evidence it is
    given on: the run's score and each check's status as they stand (``checks.snapshots``).

    ``run`` is the readiness run the person saw (the page sends it); by default the latest
    finished one. ``seen`` is the fingerprint of the evidence the page showed: an approval is
    refused when the evidence changed since, so nobody approves what they did not see."""
    comment = (comment or "").strip()
    attempted = {"environment": environment.slug, "decision": decision}
    with audit.refusals_recorded(
        actor=actor,
        action="approval.recorded",
        obj=release,
        project_id=release.project_id,
        attempted=attempted,
    ):
        require(actor, release.project, Permission.APPROVE)
        refusal = four_eyes_refusal(actor, release)
        if refusal:
            raise Denied(refusal, code="four_eyes")
        errors = {}
        if decision not in Decision.values:
            errors["decision"] = "Choose approve or reject."
        elif decision == Decision.REJECT and not comment:
            errors["comment"] = "Say why you reject the release."
        if len(comment) > text.COMMENT:
            errors["comment"] = text.too_long_message(text.COMMENT, len(comment))
        if environment.project_id != release.project_id:
            errors["environment"] = "The environment belongs to another project."
        if run is None:
            run = latest_finished_run(release, environment)
        elif (run.release_id, run.environment_id, run.kind, run.status) != (
            release.pk,
            environment.pk,
            ReadinessRun.Kind.READINESS,
            ReadinessRun.Status.FINISHED,
        ):
            errors["run"] = "Decide on a finished readiness run of this release and environment."
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            snapshot = Snapshot.of(evaluate(run)) if run is not None else Snapshot(score=None)
            if (
                seen
                and decision == Decision.APPROVE
                and run is not None
                and seen != snapshot.fingerprint(run.pk)
            ):
                raise ValidationError(
                    "The evidence changed since this page was loaded; it now shows the "
                    "evidence as it stands: review it and decide again."
                )
            approval = Approval.objects.create(
                release=release,
                environment=environment,
                approver=actor.user,
                decision=decision,
                comment=comment,
                run=run,
                score=snapshot.score,
                evidence=dict(snapshot.statuses),
            )
            audit.record(
                actor=actor,
                action="approval.recorded",
                obj=approval,
                project_id=release.project_id,
                after={
                    "release": release.version,
                    "environment": environment.slug,
                    "decision": decision,
                    "comment": comment,
                    "run": getattr(run, "pk", None),
                    "score": snapshot.score,
                },
            )
            webhooks.emit(
                project=release.project_id,
                event="approval.recorded",
                data={
                    "version": release.version,
                    "environment": environment.slug,
                    "decision": decision,
                    "by": actor.label,
                    "summary": comment,
                },
            )
            # Right after the commit, here; in a worker if this process could not.
            task_queue("checks.tasks.announce_gate", release.pk, environment.pk, here=True)
    return approval


def latest_finished_run(release: Release, environment: Environment) -> ReadinessRun | None:
    return (
        ReadinessRun.objects.finished()
        .filter(release=release, environment=environment, kind=ReadinessRun.Kind.READINESS)
        .order_by("-finished_at", "-id")
        .first()
    )
