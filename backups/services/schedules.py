"""Changing when beat backs up, drills and samples a database (backups.schedules).

Project admins only: a schedule decides how often Preflight loads the production database with
pg_dump and restores, which is a decision about that server, not about one release. Beat reads
the new schedule within ``PREFLIGHT_BEAT_REFRESH_SECONDS``; nothing is sent from here."""

from __future__ import annotations

from django.db import transaction

from audit import services as audit
from audit.actors import Actor
from core import locking
from releases.access import Permission, require

from .. import schedules
from ..models import Database

SCHEDULE_FIELDS = tuple(field for _, field, _ in schedules.JOBS)


def database_schedule_change(
    *,
    actor: Actor,
    database: Database,
    backup_schedule: str | None = None,
    drill_schedule: str | None = None,
    wal_schedule: str | None = None,
) -> Database:
    """Set the schedules given (None leaves one as it is; empty text switches it off). Per-field
    ValidationErrors for schedules that are neither cron fields nor an interval. A change
    writes one ``database.schedule_changed`` event with what each changed schedule was and is;
    writing the same schedules again writes nothing."""
    given = {
        "backup_schedule": backup_schedule,
        "drill_schedule": drill_schedule,
        "wal_schedule": wal_schedule,
    }
    wanted = {name: schedules.normalized(text) for name, text in given.items() if text is not None}
    project = database.project
    with audit.refusals_recorded(
        actor=actor,
        action="database.schedule_changed",
        obj=database,
        project_id=project.pk,
        attempted=wanted,
    ):
        require(actor, project, Permission.SCHEDULE)
        with transaction.atomic():
            database = locking.rows(Database.objects).select_related("project").get(pk=database.pk)
            changed = [name for name, text in wanted.items() if getattr(database, name) != text]
            if not changed:
                return database
            before = audit.snapshot(database, tuple(changed))
            for name in changed:
                setattr(database, name, wanted[name])
            others = [f.name for f in Database._meta.fields if f.name not in changed]
            database.full_clean(exclude=others, validate_unique=False, validate_constraints=False)
            database.save(update_fields=changed)
            audit.record(
                actor=actor,
                action="database.schedule_changed",
                obj=database,
                project_id=project.pk,
                before=before,
                after=audit.snapshot(database, tuple(changed)),
            )
    return database
