"""Approvals: a person's decision on a release for an environment (never a service token's)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.services.approvals import approval_record

from ..idempotency import idempotent
from ..lookups import environment_of, project_for, release_of
from ..schema import IDEMPOTENCY_KEY, WRITE_ERRORS, responses
from ..serializers import ApprovalInput, ApprovalSerializer, valid


class ApprovalsView(APIView):
    @extend_schema(
        operation_id="approval_record",
        summary="Approve or reject a release for an environment",
        request=ApprovalInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {201: ApprovalSerializer},
            WRITE_ERRORS,
            e403="Service tokens, members who are not approvers, and the release's creator "
            "(four-eyes rule) may not decide.",
        ),
    )
    @idempotent
    def post(self, request: Request, project: str, version: str) -> Response:
        found, actor = project_for(request, project)
        values = valid(ApprovalInput, request.data)
        release = release_of(found, version)
        environment = environment_of(found, values["environment"])
        approval = approval_record(
            actor=actor,
            release=release,
            environment=environment,
            decision=values["decision"],
            comment=values["comment"],
        )
        return Response(ApprovalSerializer(approval).data, status=status.HTTP_201_CREATED)
