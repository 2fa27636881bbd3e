from __future__ import annotations

from django.core.management.base import CommandError

from backups.models import Database
from releases.management.commands._helpers import get_project


def get_database(project_slug: str, name: str) -> Database:
    project = get_project(project_slug)
    database = Database.objects.select_related("project").filter(project=project, name=name).first()
    if database is None:
        known = ", ".join(project.databases.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No database {name!r} in {project.slug} (known: {known}).")
    return database
