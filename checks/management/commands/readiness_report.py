from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.template.loader import render_to_string

from checks.report import build_report, render_markdown
from core.commands import PreflightCommand
from releases.management.commands._helpers import get_project
from releases.models import Environment, Release


class Command(PreflightCommand):
    help = "Generate the readiness review of a release for an environment, as Markdown (default) or printable HTML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project")
        parser.add_argument("version")
        parser.add_argument("environment")
        parser.add_argument("--format", choices=["markdown", "html"], default="markdown")
        parser.add_argument("--output", "-o", help="write to this file instead of standard output")

    def handle(
        self, *args: Any, project: str, version: str, environment: str, **options: Any
    ) -> None:
        target = get_project(project)
        release = Release.objects.filter(project=target, version=version).first()
        if release is None:
            raise CommandError(f"No release {version!r} in {target.slug}.")
        env = Environment.objects.filter(project=target, slug=environment).first()
        if env is None:
            known = ", ".join(target.environments.values_list("slug", flat=True))
            raise CommandError(f"No environment {environment!r} in {target.slug} (known: {known}).")
        report = build_report(release, env)
        text: str
        if options["format"] == "html":
            text = render_to_string("checks/report.html", {"report": report})
        else:
            text = render_markdown(report)
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text, ending="")
