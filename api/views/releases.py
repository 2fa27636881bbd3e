"""Releases: registering one (safe to repeat) and reading its state per environment."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.evaluation import evaluate_runs
from checks.gate import tally_approvals
from checks.models import ReadinessRun
from releases.models import Approval, Decision, Deployment, Environment, Membership, Release
from releases.services.releases import release_register

from ..idempotency import idempotent
from ..lookups import project_for, readable_project, release_of
from ..schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, responses
from ..serializers import ReleaseDetailSerializer, ReleaseInput, ReleaseSerializer, valid


class ReleasesView(APIView):
    @extend_schema(
        operation_id="release_register",
        summary="Register a release",
        request=ReleaseInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {
                201: ReleaseSerializer,
                200: ReleaseSerializer,
            },
            WRITE_ERRORS,
            e409="The version is registered for another commit (code version_conflict).",
        ),
        description="201 for a new release; the same version and commit again answer 200 "
        "with the release; the same version with another commit is 409.",
    )
    @idempotent
    def post(self, request: Request, project: str) -> Response:
        found, actor = project_for(request, project)
        values = valid(ReleaseInput, request.data)
        release, created = release_register(actor=actor, project=found, **values)
        release.project = found
        return Response(
            ReleaseSerializer(release).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ReleaseView(APIView):
    @extend_schema(
        operation_id="release_read",
        summary="A release with its state in each environment",
        responses=responses({200: ReleaseDetailSerializer}, READ_ERRORS),
    )
    def get(self, request: Request, project: str, version: str) -> Response:
        found, _ = readable_project(request, project)
        release = release_of(found, version)
        body = dict(ReleaseSerializer(release).data, environments=environment_states(release))
        return Response(body)


def environment_states(release: Release) -> list[dict[str, Any]]:
    """Latest run, latest deployment and approval tally per environment (with the approvals
    gone stale, as the gate judges them), in a fixed number of queries however many runs,
    deployments, results and approvals there are."""
    now = timezone.now()
    runs = ReadinessRun.objects.filter(
        release=release, environment=OuterRef("pk"), kind=ReadinessRun.Kind.READINESS
    ).order_by("-created_at", "-id")
    deployments = Deployment.objects.filter(release=release, environment=OuterRef("pk")).order_by(
        "-started_at", "-id"
    )
    environments = list(
        Environment.objects.filter(project_id=release.project_id)
        .annotate(
            run_id=Subquery(runs.values("pk")[:1]),
            deployment_id=Subquery(deployments.values("pk")[:1]),
        )
        .order_by("position")
    )
    run_rows = ReadinessRun.objects.in_bulk([e.run_id for e in environments if e.run_id])
    for found in run_rows.values():
        found.release = release
    evaluations = evaluate_runs(
        [r for r in run_rows.values() if r.status == ReadinessRun.Status.FINISHED], now=now
    )
    deployment_rows = Deployment.objects.in_bulk(
        [e.deployment_id for e in environments if e.deployment_id]
    )
    latest = list(
        Approval.objects.filter(release=release).latest_per_person().select_related("approver")
    )
    roles = dict(
        Membership.objects.filter(
            project_id=release.project_id, user_id__in={a.approver_id for a in latest}
        ).values_list("user_id", "role")
    )

    states = []
    for environment in environments:
        run = run_rows.get(environment.run_id)
        deployment = deployment_rows.get(environment.deployment_id)
        decisions = [a for a in latest if a.environment_id == environment.pk]
        tally = tally_approvals(
            release,
            environment,
            decisions,
            roles,
            evaluations.get(run.pk) if run is not None else None,
            now,
        )
        states.append(
            {
                "environment": environment.slug,
                "name": environment.name,
                "position": environment.position,
                "latest_run": run
                and {
                    "id": run.pk,
                    "status": run.status,
                    "score": run.score,
                    "finished_at": run.finished_at,
                },
                "latest_deployment": deployment
                and {
                    "id": deployment.pk,
                    "status": deployment.status,
                    "started_at": deployment.started_at,
                },
                "approvals": sum(1 for a in decisions if a.decision == Decision.APPROVE),
                "rejections": sum(1 for a in decisions if a.decision == Decision.REJECT),
                "stale_approvals": [{"approver": who, "reason": why} for who, why in tally.stale],
            }
        )
    return states
