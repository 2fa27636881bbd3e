from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from core.commands import PreflightCommand
from releases.services.tokens import token_issue

from ._helpers import OPERATOR, get_project, get_user, validation_message


class Command(PreflightCommand):
    help = (
        "Issue an API token and print it (only the token, once: it is stored hashed). "
        "A user token acts with the user's roles; a service token has the ci role in one project."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", metavar="USERNAME")
        who.add_argument("--service", metavar="NAME", help="name of the pipeline the token is for")
        parser.add_argument("--project", metavar="SLUG", help="the project of a service token")
        parser.add_argument("--name", help="a label for a user token (default: cli)")
        parser.add_argument("--expires-in-days", type=int, metavar="DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        expires_at = None
        if options["expires_in_days"] is not None:
            if options["expires_in_days"] < 1:
                raise CommandError("--expires-in-days must be at least 1.")
            expires_at = timezone.now() + timedelta(days=options["expires_in_days"])
        try:
            if options["service"]:
                if not options["project"]:
                    raise CommandError(
                        "--service needs --project: a service token belongs to one project."
                    )
                _, raw = token_issue(
                    actor=OPERATOR,
                    name=options["service"],
                    project=get_project(options["project"]),
                    expires_at=expires_at,
                )
            else:
                if options["project"]:
                    raise CommandError(
                        "--project is for service tokens; a user token acts in all the user's projects."
                    )
                _, raw = token_issue(
                    actor=OPERATOR,
                    name=options["name"] or "cli",
                    user=get_user(options["user"]),
                    expires_at=expires_at,
                )
        except ValidationError as exc:
            raise CommandError(validation_message(exc)) from None
        self.stdout.write(raw)
