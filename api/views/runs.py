"""Readiness runs: starting one, and reading its score, categories, risk summary and results."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.evaluation import evaluate
from checks.evidence import source_of
from checks.models import ReadinessRun
from checks.report import risk_lines
from checks.services.runs import breakdown, run_start
from core.errors import NotFound
from releases.access import Permission

from ..idempotency import idempotent
from ..lookups import environment_of, member_of, project_for, release_of
from ..schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, responses
from ..serializers import RunInput, RunQueuedSerializer, RunSerializer, valid


class RunsView(APIView):
    @extend_schema(
        operation_id="run_start",
        summary="Start a readiness run",
        request=RunInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses({202: RunQueuedSerializer}, WRITE_ERRORS),
        description="Queues a run of every applicable check. While a run for the release and "
        "environment is queued or running, that run is answered instead of a new one.",
    )
    @idempotent
    def post(self, request: Request, project: str, version: str) -> Response:
        found, actor = project_for(request, project)
        values = valid(RunInput, request.data)
        release = release_of(found, version)
        environment = environment_of(found, values["environment"])
        run, _ = run_start(actor=actor, release=release, environment=environment)
        return Response({"id": run.pk, "status": run.status}, status=status.HTTP_202_ACCEPTED)


class RunView(APIView):
    @extend_schema(
        operation_id="run_read",
        summary="A run's score, categories, risk summary and results",
        responses=responses({200: RunSerializer}, READ_ERRORS),
    )
    def get(self, request: Request, id: int) -> Response:
        run = (
            ReadinessRun.objects.select_related("release__project", "environment")
            .filter(pk=id)
            .first()
        )
        if run is None:
            raise NotFound(f"Run {id} does not exist.")
        member_of(request, run.release.project, Permission.VIEW)
        return Response(RunSerializer(run_body(run)).data)


def run_body(run: ReadinessRun) -> dict[str, Any]:
    evaluation = evaluate(run)
    parts = breakdown(evaluation)
    return {
        "id": run.pk,
        "kind": run.kind,
        "version": run.release.version,
        "environment": run.environment.slug,
        "status": run.status,
        "score": evaluation.overall if run.status == ReadinessRun.Status.FINISHED else None,
        "categories": parts["categories"],
        "risk_summary": parts["risk_summary"],
        "risk_summary_sections": [line.as_dict() for line in risk_lines(evaluation.results)],
        "results": [
            {
                "check": item.check.code,
                "title": item.check.title,
                "category": item.category.key,
                "severity": item.severity,
                "status": item.status,
                "detail": item.detail,
                "source": source_of(item.result),
            }
            for item in evaluation.results
        ],
    }
