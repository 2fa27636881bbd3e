from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from core.commands import PreflightCommand
from releases.models import Role
from releases.services.projects import member_set, user_get_or_create

from ._helpers import OPERATOR, get_project, validation_message


class Command(PreflightCommand):
    help = (
        "Add a person to a project with a role (creating the user if needed), or change their role."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--project", required=True, metavar="SLUG")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="set (or reset) the user's password")

    def handle(
        self,
        *args: Any,
        username: str,
        project: str,
        role: str,
        password: str | None,
        **options: Any,
    ) -> None:
        target = get_project(project)
        try:
            with transaction.atomic():
                user, created = user_get_or_create(username=username, password=password)
                member_set(actor=OPERATOR, project=target, user=user, role=role, check_access=False)
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {username}: {role} in {target.slug}.")
        if created and not password:
            self.stdout.write(
                "No password set: pass --password, or run `manage.py changepassword`."
            )
