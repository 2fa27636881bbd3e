from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from core.commands import PreflightCommand
from demo import loader

DEFAULT_PASSWORD = "preflight-demo"  # noqa: S105 - the demo's published password


class Command(PreflightCommand):
    help = (
        "Load the Liquor POS demo: the readiness review's catalog, environments, people, release "
        "history, the review's findings for 1.0.0 and a fixed 1.1.0. Does nothing if it is loaded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=None,
            help=f"the demo users' password (default: {DEFAULT_PASSWORD})",
        )

    def handle(self, *args: Any, password: str | None, **options: Any) -> None:
        if not settings.DEBUG and password is None:
            raise CommandError("Production settings: give the demo users a --password of your own.")
        password = password or DEFAULT_PASSWORD
        try:
            project = loader.load(password=password)
        except loader.DemoError as exc:
            raise CommandError(str(exc)) from None
        if project is None:
            self.stdout.write(f"The demo project {loader.SLUG} is already loaded.")
            changed = loader.metrics_objective_sync()
            if changed:
                self.stdout.write(changed)
        else:
            self.stdout.write(self.style.SUCCESS(f"Loaded the demo project {loader.SLUG}."))
        shown = (
            password
            if project is not None
            else f"{password} (unless the demo was loaded with another)"
        )
        self.stdout.write(f"Demo people, all with the password {shown}:")
        for username, role, about in loader.credentials():
            self.stdout.write(f"  {username:<6} {role:<9} {about}")
