from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from checks.gate import evaluate_gate
from core import locking, text
from core.errors import Conflict, EnvironmentBusy, GateClosed
from core.outbox.relay import task_queue
from releases import webhooks
from releases.access import Permission, require
from releases.models import Deployment, DeploymentStatus, Environment, Release, Strategy
from releases.models.deployments import GOOD_STATUSES
from releases.services.locks import Hold, environment_holds, lock_hold

FINISH_STATUSES = (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED)


def deployment_start(
    *,
    actor: Actor,
    release: Release,
    environment: Environment,
    strategy: str = Strategy.ROLLING,
    override_reason: str = "",
) -> Deployment:
    """Record that ``release`` is being deployed to ``environment``, if the gate allows it.

    The gate is evaluated and the deployment row inserted in one transaction holding the
    environment's row lock, so the gate's answer still stands when the row commits. The partial
    unique index on in-progress deployments is what finally guarantees one at a time.

    An admin may start with the gate closed by giving ``override_reason`` (break glass). Nothing
    overrides a deployment already in progress."""
    override_reason = (override_reason or "").strip()
    project = release.project
    with audit.refusals_recorded(
        actor=actor,
        action="deployment.started",
        obj=release,
        project_id=project.pk,
        attempted={
            "environment": environment.slug,
            "strategy": strategy,
            "override": bool(override_reason),
        },
    ):
        require(actor, project, Permission.DEPLOY)
        if override_reason:
            require(actor, project, Permission.OVERRIDE)
        errors = {}
        if strategy not in Strategy.values:
            errors["strategy"] = f"Choose one of {', '.join(Strategy.values)}."
        if environment.project_id != project.pk:
            errors["environment"] = "The environment belongs to another project."
        if len(override_reason) > text.REASON:
            errors["override_reason"] = text.too_long_message(text.REASON, len(override_reason))
        if errors:
            raise ValidationError(errors)

        with transaction.atomic():
            environment = locking.row(Environment, environment.pk)
            holds = environment_holds(environment)
            _refuse_if_held(environment, holds, override=bool(override_reason))
            gate = evaluate_gate(release, environment)
            if not gate.allowed and not override_reason:
                raise GateClosed(
                    f"The gate for {release.version} → {environment.slug} is closed.",
                    reasons=[r.as_dict() for r in gate.reasons],
                )
            try:
                with transaction.atomic():
                    deployment = Deployment.objects.create(
                        release=release,
                        environment=environment,
                        strategy=strategy,
                        override_reason=override_reason if not gate.allowed else "",
                        started_by=actor.user,
                        started_by_token=actor.token,
                    )
            except IntegrityError:
                raise _busy(environment, holds) from None
            audit.record(
                actor=actor,
                action="deployment.override" if deployment.is_override else "deployment.started",
                obj=deployment,
                project_id=project.pk,
                after={
                    "release": release.version,
                    "environment": environment.slug,
                    "strategy": strategy,
                    "override_reason": deployment.override_reason,
                    "gate_reasons": [r.message for r in gate.reasons],
                },
            )
            data = {
                "deployment": deployment.pk,
                "version": release.version,
                "environment": environment.slug,
                "strategy": strategy,
                "status": deployment.status,
                "by": actor.label,
            }
            webhooks.emit(project=project, event="deployment.started", data=data)
            if deployment.is_override:
                webhooks.emit(
                    project=project,
                    event="override.used",
                    data={
                        **data,
                        "reason": deployment.override_reason,
                        "gate_reasons": [r.message for r in gate.reasons],
                        "summary": f"Break glass by {actor.label}: {deployment.override_reason}",
                    },
                )
    return deployment


def deployment_data(deployment: Deployment) -> dict[str, object]:
    """How webhooks describe a deployment."""
    return {
        "deployment": deployment.pk,
        "version": deployment.release.version,
        "environment": deployment.environment.slug,
        "strategy": deployment.strategy,
        "status": deployment.status,
        "summary": deployment.status_detail,
        "override": deployment.is_override,
        "rollback_of": deployment.rollback_of_id,
    }


def _refuse_if_held(environment: Environment, holds: list[Hold], *, override: bool) -> None:
    running = [h for h in holds if h.code == "deployment_in_progress"]
    if running or (holds and not override):
        raise _busy(environment, running or holds)


def _busy(environment: Environment, holds: list[Hold]) -> EnvironmentBusy:
    if not holds:  # lost the race to a row that committed after we looked
        holds = environment_holds(environment) or [
            Hold(code="deployment_in_progress", message="Another deployment is in progress.")
        ]
    return EnvironmentBusy(
        f"{environment.slug} is busy: " + " ".join(h.message for h in holds),
        holds=[{"code": h.code, "message": h.message, "holder": h.holder} for h in holds],
        holder=holds[0].holder,
    )


def deployment_finish(
    *, actor: Actor, deployment: Deployment, status: str, detail: str = ""
) -> Deployment:
    """Record how a deployment ended. Repeating the same outcome is a no-op (CI retries);
    a different outcome for a finished deployment is a conflict. A success starts the
    post-deploy verification once the transaction commits."""
    project = deployment.environment.project
    with audit.refusals_recorded(
        actor=actor,
        action="deployment.finished",
        obj=deployment,
        project_id=project.pk,
        attempted={"status": status},
    ):
        require(actor, project, Permission.DEPLOY)
        if status not in FINISH_STATUSES:
            raise ValidationError({"status": "Finish a deployment as succeeded or failed."})
        text.check_lengths(detail=(detail, text.NOTES))
        with transaction.atomic():
            deployment = locking.row(Deployment, deployment.pk)
            if deployment.status == status or (
                status == DeploymentStatus.SUCCEEDED and deployment.status in GOOD_STATUSES
            ):
                return deployment
            before = {"status": deployment.status}
            deployment.transition_to(status, detail=(detail or "").strip())
            deployment.save(update_fields=["status", "status_detail", "finished_at"])
            audit.record(
                actor=actor,
                action="deployment.finished",
                obj=deployment,
                project_id=project.pk,
                before=before,
                after={"status": status, "detail": deployment.status_detail},
            )
            webhooks.emit(
                project=project, event="deployment.finished", data=deployment_data(deployment)
            )
            if status == DeploymentStatus.SUCCEEDED:
                # Starts the post-deploy verification right after the commit, here; in a
                # worker if this process could not.
                task_queue("releases.tasks.announce_deployment_succeeded", deployment.pk, here=True)
    return deployment


def is_latest(deployment: Deployment) -> bool:
    """Whether no deployment started in its environment after it: only the latest is rolled
    back (the service refuses the others; the release page offers it only there)."""
    newest = (
        Deployment.objects.filter(environment_id=deployment.environment_id)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    return bool(newest == deployment.pk)


def last_good_release(deployment: Deployment) -> Release | None:
    """The release that last went well in the deployment's environment before it."""
    earlier = (
        Deployment.objects.filter(
            environment_id=deployment.environment_id,
            status__in=GOOD_STATUSES,
            started_at__lt=deployment.started_at,
            # A deployment that was rolled back proved faulty: never a place to go back to.
            rollbacks__isnull=True,
        )
        .exclude(release_id=deployment.release_id)
        .select_related("release")
        .order_by("-started_at", "-id")
        .first()
    )
    return earlier.release if earlier else None


def deployment_rollback(*, actor: Actor, deployment: Deployment, reason: str) -> Deployment:
    """Roll back: a new deployment of the last good earlier release, with ``rollback_of`` set.

    The environment is locked (reason: the rollback) until someone unlocks it, so the faulty
    release is not simply deployed again. A deployment still in progress is failed first."""
    reason = (reason or "").strip()
    environment = deployment.environment
    project = environment.project
    with audit.refusals_recorded(
        actor=actor,
        action="rollback.started",
        obj=deployment,
        project_id=project.pk,
        attempted={"reason": reason},
    ):
        require(actor, project, Permission.ROLLBACK)
        if not reason:
            raise ValidationError({"reason": "Say why you roll back."})
        text.check_lengths(reason=(reason, text.REASON))
        with transaction.atomic():
            locking.row(Environment, environment.pk)
            deployment = (
                locking.rows(Deployment.objects).select_related("release").get(pk=deployment.pk)
            )
            if not is_latest(deployment):
                raise Conflict(
                    f"Deployment #{deployment.pk} is no longer the latest in {environment.slug}; "
                    "roll back the latest one.",
                    code="not_latest",
                )
            target = last_good_release(deployment)
            if target is None:
                raise Conflict(
                    f"No earlier release went well in {environment.slug}; there is nothing to roll back to.",
                    code="nothing_to_roll_back_to",
                )
            if deployment.status == DeploymentStatus.IN_PROGRESS:
                deployment.transition_to(DeploymentStatus.FAILED, detail=f"Rolled back: {reason}")
                deployment.save(update_fields=["status", "status_detail", "finished_at"])
            try:
                with transaction.atomic():
                    rollback = Deployment.objects.create(
                        release=target,
                        environment=environment,
                        strategy=deployment.strategy,
                        rollback_of=deployment,
                        status_detail=reason,
                        started_by=actor.user,
                        started_by_token=actor.token,
                    )
            except IntegrityError:
                raise _busy(environment, []) from None
            # Locked until someone unlocks it, so the faulty release is not simply deployed again;
            # an existing lock already does that and stays as it is.
            lock_hold(
                actor,
                environment,
                f"Rollback of {deployment.release.version} to {target.version}: {reason}",
                deployment=rollback,
            )
            audit.record(
                actor=actor,
                action="rollback.started",
                obj=rollback,
                project_id=project.pk,
                before={"release": deployment.release.version, "deployment": deployment.pk},
                after={"release": target.version, "deployment": rollback.pk, "reason": reason},
            )
            webhooks.emit(
                project=project,
                event="rollback.started",
                data={
                    **deployment_data(rollback),
                    "rollback_of": deployment.pk,
                    "from_version": deployment.release.version,
                    "reason": reason,
                },
            )
    return rollback


def deployments_fail_timed_out(now: datetime | None = None) -> list[Deployment]:
    """Fail deployments still in progress past their environment's deploy_timeout, freeing the
    environment. Safe to run from several beat ticks at once: each row is re-read under lock."""
    now = now or timezone.now()
    failed = []
    candidates = Deployment.objects.filter(status=DeploymentStatus.IN_PROGRESS).select_related(
        "environment"
    )
    for candidate in candidates:  # at most one per environment
        if candidate.started_at + candidate.environment.deploy_timeout > now:
            continue
        with transaction.atomic():
            deployment = (
                locking.rows(Deployment.objects)
                .select_related("environment", "release")
                .filter(pk=candidate.pk, status=DeploymentStatus.IN_PROGRESS)
                .first()
            )
            if deployment is None:
                continue
            timeout = deployment.environment.deploy_timeout
            deployment.transition_to(
                DeploymentStatus.FAILED,
                detail=f"Timed out: still in progress after {timeout}.",
                at=now,
            )
            deployment.save(update_fields=["status", "status_detail", "finished_at"])
            audit.record(
                actor=Actor.of_system("deploy-timeout"),
                action="deployment.timed_out",
                obj=deployment,
                project_id=deployment.environment.project_id,
                before={"status": DeploymentStatus.IN_PROGRESS},
                after={"status": DeploymentStatus.FAILED, "detail": deployment.status_detail},
            )
            webhooks.emit(
                project=deployment.environment.project_id,
                event="deployment.finished",
                data=deployment_data(deployment),
            )
            failed.append(deployment)
    return failed
