from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from core.commands import PreflightCommand
from releases.models import Project
from releases.services.projects import environment_create, project_create

from ._helpers import OPERATOR, validation_message


class Command(PreflightCommand):
    help = "Create a project with environments in promotion order (development, staging, production by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", help="display name (default: the slug)")
        parser.add_argument(
            "--environments",
            default="development,staging,production",
            help="comma-separated environment slugs in promotion order",
        )

    def handle(
        self, *args: Any, slug: str, name: str | None, environments: str, **options: Any
    ) -> None:
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"Project {slug!r} already exists.")
        slugs = [s.strip() for s in environments.split(",") if s.strip()]
        try:
            project = project_create(actor=OPERATOR, slug=slug, name=name or slug)
            for position, env_slug in enumerate(slugs):
                environment_create(
                    actor=OPERATOR,
                    project=project,
                    slug=env_slug,
                    position=position,
                    required_approvals=2 if env_slug == "production" else 1,
                    requires_previous=position > 0,
                )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        self.stdout.write(f"Created project {slug} with environments {' → '.join(slugs)}.")
