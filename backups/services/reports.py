"""Backups reported by an outside backup job (the API's POST projects/{project}/backups/)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from core.errors import NotFound
from releases.access import Permission, require
from releases.models import Project

from ..models import Backup, Database
from .taking import RESULT_FIELDS, backup_alerts

BACKUP_FIELDS = ("kind", "source", *RESULT_FIELDS)


def backup_report(
    *,
    actor: Actor,
    project: Project,
    database: str,
    kind: str = Backup.Kind.FULL,
    started_at: datetime,
    finished_at: datetime | None = None,
    size_bytes: int | None = None,
    sha256: str = "",
    location: str = "",
    encrypted: bool = False,
    status: str = Backup.Status.SUCCEEDED,
) -> Backup:
    """Record a backup an outside job took. The database must already be configured for the
    project (a typo in a job's configuration should fail loudly, not create a new database that
    nothing watches). A reported backup is not ``verified``: only Preflight's own checksum
    verification or a restore drill can say that."""
    with audit.refusals_recorded(
        actor=actor,
        action="backup.reported",
        obj=project,
        project_id=project.pk,
        attempted={"database": database, "kind": kind, "location": location},
    ):
        require(actor, project, Permission.REPORT)
        db = Database.objects.filter(project=project, name=database).first()
        if db is None:
            raise NotFound(
                f"No database named {database!r} is configured for project {project.slug}.",
                code="unknown_database",
            )
        backup = Backup(
            database=db,
            kind=kind,
            source=Backup.Source.REPORTED,
            status=status,
            started_at=started_at,
            finished_at=finished_at,
            size_bytes=size_bytes,
            sha256=(sha256 or "").lower(),
            location=location,
            encrypted=encrypted,
            reported_by_label=actor.label,
        )
        try:
            backup.full_clean()
        except ValidationError as exc:
            if "__all__" in exc.message_dict:
                # The model's one cross-field rule: a backup cannot finish before it starts.
                raise ValidationError(
                    {"finished_at": "A backup cannot finish before it starts."}
                ) from exc
            raise
        with transaction.atomic():
            backup.save()
            audit.record(
                actor=actor,
                action="backup.reported",
                obj=backup,
                project_id=project.pk,
                after=audit.snapshot(backup, BACKUP_FIELDS),
            )
    if status != Backup.Status.RUNNING:
        backup_alerts(backup)
    return backup
