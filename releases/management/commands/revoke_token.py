from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from core.commands import PreflightCommand
from releases.models import ApiToken
from releases.services.tokens import hash_token, token_revoke

from ._helpers import OPERATOR


class Command(PreflightCommand):
    help = (
        "Revoke an API token, named by the token itself or by its prefix (as listed in the admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token", help="the token, or its prefix (e.g. pf_Ab3dE9x)")

    def handle(self, *args: Any, token: str, **options: Any) -> None:
        matches = list(ApiToken.objects.filter(key_hash=hash_token(token))) or list(
            ApiToken.objects.filter(prefix=token)
        )
        if not matches:
            raise CommandError("No token matches.")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} tokens share that prefix; give the whole token.")
        revoked = token_revoke(actor=OPERATOR, token=matches[0])
        self.stdout.write(f"Revoked {revoked}.")
