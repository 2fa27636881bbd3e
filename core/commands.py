"""What every Preflight management command shares."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


class PreflightCommand(BaseCommand):
    """A command that works on Preflight's data: on a database that is not set up yet it says
    what to do, instead of failing with a missing-table traceback. A command that reads no
    data (``needs_database = False``) runs without a database at all."""

    needs_database = True

    def execute(self, *args: Any, **options: Any) -> str | None:
        if not self.needs_database:
            return super().execute(*args, **options)
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database is not set up yet (it has unapplied migrations): run `make run` "
                "once, or `.venv/bin/python manage.py migrate`."
            )
        return super().execute(*args, **options)
