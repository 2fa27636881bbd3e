from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from backups.models import Backup
from backups.services.taking import backup_take_now
from core.commands import PreflightCommand
from releases.management.commands._helpers import OPERATOR

from ._database import get_database


class Command(PreflightCommand):
    help = "Take a backup of a configured database now (pg_dump, checksum verified, stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project")
        parser.add_argument("database")

    def handle(self, *args: Any, project: str, database: str, **options: Any) -> None:
        target = get_database(project, database)
        backup = backup_take_now(target, actor=OPERATOR)
        if backup.status != Backup.Status.SUCCEEDED:
            raise CommandError(f"Backup #{backup.pk} of {target} failed: {backup.error}")
        self.stdout.write(
            f"Backup #{backup.pk} of {target}: {backup.size_bytes:,} bytes, "
            f"{len(backup.manifest)} tables, sha256 {backup.sha256} verified, "
            f"{'encrypted, ' if backup.encrypted else ''}stored at {backup.location}"
        )
