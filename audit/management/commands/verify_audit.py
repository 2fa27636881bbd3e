from __future__ import annotations

import re
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.chain import verify_chain
from preflight.commands import PreflightCommand


class Command(PreflightCommand):
    help = (
        "Verify the audit log's hash chain. Exits 0 when intact; otherwise exits 1 naming the "
        "first event that was altered, deleted, inserted or reordered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head",
            metavar="SEQ:HASH",
            help=(
                "a head printed by an earlier run, kept outside the database; the chain must "
                "still contain it (this also catches events deleted from the end)"
            ),
        )

    def handle(self, *args: Any, head: str | None = None, **options: Any) -> None:
        expected = _parse_head(head) if head else None
        report = verify_chain()
        if not report.ok:
            raise CommandError(report.describe(), returncode=1)
        if expected:
            from audit.models import AuditEvent

            seq, digest = expected
            kept = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
            if kept != digest:
                found = "is missing" if kept is None else "has another hash"
                raise CommandError(
                    f"audit chain broken: the recorded head #{seq} {found} "
                    "(events were deleted from the end or rewritten)",
                    returncode=1,
                )
        self.stdout.write(report.describe())


def _parse_head(value: str) -> tuple[int, str]:
    match = re.fullmatch(r"#?(\d+):([0-9a-f]{64})", value.strip())
    if not match:
        raise CommandError(
            "--head expects SEQ:HASH, e.g. 1042:9f86d08…  as printed by verify_audit"
        )
    return int(match.group(1)), match.group(2)
