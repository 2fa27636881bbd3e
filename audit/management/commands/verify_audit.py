from __future__ import annotations

import re
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.models import AuditEvent
from audit.verification import chain_verification_record
from core.commands import PreflightCommand


class Command(PreflightCommand):
    help = (
        "Verify the audit log's hash chain and that it still contains the newest signed anchor "
        "(audit_anchor). Exits 0 when intact; otherwise exits 1 naming the first event that "
        "was altered, deleted, inserted or reordered, or the anchor the chain no longer holds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head",
            metavar="SEQ:HASH",
            help=(
                "a head printed by an earlier run and kept elsewhere, e.g. from an anchor's "
                "copy in S3 or a webhook receiver: the chain must still contain it"
            ),
        )

    def handle(self, *args: Any, head: str | None = None, **options: Any) -> None:
        expected = _parse_head(head) if head else None
        # Stored, so the audit log page shows this verification until the next one.
        report = chain_verification_record()
        if not report.ok:
            raise CommandError(report.detail, returncode=1)
        if expected:
            seq, digest = expected
            kept = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
            if kept != digest:
                found = "is missing" if kept is None else "has another hash"
                raise CommandError(
                    f"audit chain broken: the recorded head #{seq} {found} "
                    "(events were deleted from the end or rewritten)",
                    returncode=1,
                )
        self.stdout.write(report.detail)


def _parse_head(value: str) -> tuple[int, str]:
    match = re.fullmatch(r"#?(\d+):([0-9a-f]{64})", value.strip())
    if not match:
        raise CommandError(
            "--head expects SEQ:HASH, e.g. 1042:9f86d08…  as printed by verify_audit"
        )
    return int(match.group(1)), match.group(2)
