from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from checks.catalog import CatalogInvalid, export_catalog, import_catalog
from core.commands import PreflightCommand
from releases.management.commands._helpers import OPERATOR, get_project


class Command(PreflightCommand):
    help = "Export a project's readiness catalog as YAML, or import one (all or nothing; matched by check code)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="print the catalog as YAML")
        export.add_argument("project")
        load = sub.add_parser(
            "import", help="create or update categories and checks from a YAML file"
        )
        load.add_argument("project")
        load.add_argument("file", help="the YAML file, or - for standard input")

    def handle(self, *args: Any, action: str, project: str, **options: Any) -> None:
        target = get_project(project)
        if action == "export":
            self.stdout.write(export_catalog(target), ending="")
            return
        name = options["file"]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {name}: {exc.strerror}.") from None
        try:
            summary = import_catalog(actor=OPERATOR, project=target, text=text, check_access=False)
        except CatalogInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(f"  {error}")
            raise CommandError(
                f"{name}: {len(invalid.errors)} problem(s); nothing was imported."
            ) from None
        self.stdout.write(f"Imported {name} into {target.slug}: {summary.describe()}.")
