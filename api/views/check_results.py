"""CI reporting the result of a ``ci`` check."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.services.results import ci_result_record

from ..idempotency import idempotent
from ..lookups import check_of, environment_of, project_for, release_of
from ..schema import IDEMPOTENCY_KEY, WRITE_ERRORS, responses
from ..serializers import CheckResultInput, CheckResultSerializer, valid


class CheckResultsView(APIView):
    @extend_schema(
        operation_id="check_result_report",
        summary="Report the result of a ci check",
        request=CheckResultInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses({201: CheckResultSerializer}, WRITE_ERRORS),
    )
    @idempotent
    def post(self, request: Request, project: str) -> Response:
        found, actor = project_for(request, project)
        values = valid(CheckResultInput, request.data)
        report = ci_result_record(
            actor=actor,
            release=release_of(found, values["version"], field="version"),
            environment=environment_of(found, values["environment"]),
            check=check_of(found, values["check"]),
            status=values["status"],
            detail=values["detail"],
            url=values["url"],
        )
        return Response(CheckResultSerializer(report).data, status=status.HTTP_201_CREATED)
