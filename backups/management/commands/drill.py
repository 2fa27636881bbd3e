from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from backups.models import Backup, RestoreDrill
from backups.services.drills import drill_execute, drill_request
from core.commands import PreflightCommand
from releases.management.commands._helpers import OPERATOR

from ._database import get_database


class Command(PreflightCommand):
    help = (
        "Run a restore drill now: restore a backup (default: the latest verified one Preflight "
        "took, or a fresh one) into a scratch database, validate it and drop it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project")
        parser.add_argument("database")
        parser.add_argument("--backup", type=int, help="the id of the backup to restore")

    def handle(self, *args: Any, project: str, database: str, **options: Any) -> None:
        target = get_database(project, database)
        backup = None
        if options["backup"] is not None:
            backup = Backup.objects.filter(database=target, pk=options["backup"]).first()
            if backup is None:
                raise CommandError(f"{target} has no backup #{options['backup']}.")
        drill = drill_request(actor=OPERATOR, database=target, backup=backup, send_task=False)
        if drill.status != RestoreDrill.Status.QUEUED:
            raise CommandError(f"Restore drill #{drill.pk} of {target} is already {drill.status}.")
        drill_execute(drill.pk)
        drill.refresh_from_db()
        for item in drill.validations:
            mark = "ok  " if item["passed"] else "FAIL"
            self.stdout.write(f"  {mark} {item['name']}: {item['detail']}")
        if drill.status != RestoreDrill.Status.PASSED:
            raise CommandError(f"Restore drill #{drill.pk} of {target} failed: {drill.error}")
        self.stdout.write(
            f"Restore drill #{drill.pk} of {target} passed: backup #{drill.backup_id} restored in "
            f"{drill.restore_seconds:.1f} s, its data {drill.data_age_seconds:.0f} s old."
        )
