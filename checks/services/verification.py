"""Post-deploy verification: a succeeded deployment runs its environment's post-phase checks
(smoke tests) and becomes verified or verification_failed; with auto_rollback, a failed
verification rolls back at once and locks the environment."""

from __future__ import annotations

import logging

from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from checks.services.deployments import deployment_data, deployment_rollback
from core import locking
from core.errors import Conflict
from releases import webhooks
from releases.models import Deployment, DeploymentStatus

from .. import scoring
from ..evaluation import evaluate
from ..models import ReadinessRun
from .runs import applicable_checks, run_start

log = logging.getLogger(__name__)
VERIFIER = Actor.of_system("verification")
AUTO_ROLLBACK = Actor.of_system("auto-rollback")


def verification_start(deployment_id: int) -> ReadinessRun | None:
    deployment = Deployment.objects.select_related("release__project", "environment").get(
        pk=deployment_id
    )
    if deployment.status != DeploymentStatus.SUCCEEDED:
        return None
    kind = ReadinessRun.Kind.VERIFICATION
    if not applicable_checks(deployment.release, deployment.environment, kind):
        _conclude(
            deployment.pk,
            DeploymentStatus.VERIFIED,
            f"No post-deploy checks apply to {deployment.environment.name}.",
        )
        return None
    run, _ = run_start(
        actor=VERIFIER,
        release=deployment.release,
        environment=deployment.environment,
        kind=kind,
        deployment=deployment,
    )
    return run


def verification_conclude(run_id: int) -> None:
    """Called when a run ends; decides the deployment of a verification run."""
    run = ReadinessRun.objects.select_related("release", "environment").get(pk=run_id)
    if run.kind != ReadinessRun.Kind.VERIFICATION or run.deployment_id is None:
        return
    if run.status == ReadinessRun.Status.ERROR:
        status, detail = (
            DeploymentStatus.VERIFICATION_FAILED,
            f"Verification run #{run.pk} ended in error: {run.error}",
        )
    else:
        failing = [r for r in evaluate(run).results if r.status in scoring.NON_PASSING]
        if failing:
            listed = ", ".join(f"{r.check.code} {r.status}" for r in failing)
            status, detail = (
                DeploymentStatus.VERIFICATION_FAILED,
                f"Post-deploy checks failed: {listed}.",
            )
        else:
            status, detail = (
                DeploymentStatus.VERIFIED,
                f"Post-deploy checks passed (run #{run.pk}).",
            )
    deployment = _conclude(run.deployment_id, status, detail)
    if (
        deployment is not None
        and status == DeploymentStatus.VERIFICATION_FAILED
        and deployment.environment.auto_rollback
    ):
        try:
            deployment_rollback(actor=AUTO_ROLLBACK, deployment=deployment, reason=detail)
        except Conflict as exc:
            log.warning(
                "automatic rollback of deployment %s refused: %s", deployment.pk, exc.detail
            )


def _conclude(deployment_id: int, status: str, detail: str) -> Deployment | None:
    with transaction.atomic():
        deployment = (
            locking.rows(Deployment.objects)
            .select_related("environment", "release")
            .filter(pk=deployment_id, status=DeploymentStatus.SUCCEEDED)
            .first()
        )
        if deployment is None:  # concluded already (a redelivered task)
            return None
        deployment.transition_to(status, detail=detail)
        deployment.save(update_fields=["status", "status_detail", "verified_at"])
        audit.record(
            actor=VERIFIER,
            action=f"deployment.{status}",
            obj=deployment,
            project_id=deployment.environment.project_id,
            before={"status": DeploymentStatus.SUCCEEDED},
            after={"status": status, "detail": detail},
        )
        webhooks.emit(
            project=deployment.environment.project_id,
            event=f"deployment.{status}",
            data=deployment_data(deployment),
        )
    return deployment
