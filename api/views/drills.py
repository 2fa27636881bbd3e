"""Restore drills on demand: start one for a configured database, then follow it by id."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backups.models import Backup, Database, RestoreDrill
from backups.services.drills import drill_request
from core.errors import NotFound
from releases.access import Permission

from ..idempotency import idempotent
from ..lookups import member_of, project_for
from ..schema import IDEMPOTENCY_KEY, READ_ERRORS, WRITE_ERRORS, responses
from ..serializers import DrillInput, DrillSerializer


class DrillsView(APIView):
    @extend_schema(
        operation_id="drill_start",
        summary="Start a restore drill",
        request=DrillInput,
        parameters=[IDEMPOTENCY_KEY],
        responses=responses(
            {202: DrillSerializer},
            WRITE_ERRORS,
            e404="Unknown project, database, or backup of that database.",
        ),
        description="Queues a drill: verify the backup's checksum, restore it into a scratch "
        "database, validate it, drop the scratch database. While a drill of the database is "
        "queued or running, that drill is answered instead of a new one.",
    )
    @idempotent
    def post(self, request: Request, project: str, database: str) -> Response:
        found, actor = project_for(request, project)
        data = DrillInput(data=request.data)
        data.is_valid(raise_exception=True)
        db = Database.objects.filter(project=found, name=database).first()
        if db is None:
            raise NotFound(f"No database named {database!r} is configured for {found.slug}.")
        backup = None
        if data.validated_data["backup"] is not None:
            backup = Backup.objects.filter(database=db, pk=data.validated_data["backup"]).first()
            if backup is None:
                message = f"Backup {data.validated_data['backup']} of {db} does not exist."
                raise NotFound(message, fields={"backup": [message]})
        drill = drill_request(actor=actor, database=db, backup=backup)
        return Response(DrillSerializer(drill).data, status=status.HTTP_202_ACCEPTED)


class DrillView(APIView):
    @extend_schema(
        operation_id="drill_read",
        summary="A restore drill: status, validations, measured RTO and RPO",
        responses=responses({200: DrillSerializer}, READ_ERRORS),
    )
    def get(self, request: Request, id: int) -> Response:
        drill = RestoreDrill.objects.select_related("database__project").filter(pk=id).first()
        if drill is None:
            raise NotFound(f"Drill {id} does not exist.")
        member_of(request, drill.database.project, Permission.VIEW)
        return Response(DrillSerializer(drill).data)
