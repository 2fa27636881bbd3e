"""Backups reported by an outside backup job."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backups.services.reports import backup_report

from ..idempotency import idempotent
from ..lookups import project_for
from ..schema import IDEMPOTENCY_KEY, WRITE_ERRORS, responses
from ..serializers import BackupInput, BackupSerializer, valid


class BackupsView(APIView):
    @extend_schema(
        operation_id="backup_report",
        summary="Report a backup",
        request=BackupInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {201: BackupSerializer},
            WRITE_ERRORS,
            e404="Unknown project, or no database of that name is configured for it.",
        ),
    )
    @idempotent
    def post(self, request: Request, project: str) -> Response:
        found, actor = project_for(request, project)
        backup = backup_report(actor=actor, project=found, **valid(BackupInput, request.data))
        return Response(BackupSerializer(backup).data, status=status.HTTP_201_CREATED)
