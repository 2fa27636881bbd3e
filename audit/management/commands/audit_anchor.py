from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from audit.anchors import AnchorError, anchor_head, store
from core.commands import PreflightCommand


class Command(PreflightCommand):
    help = (
        "Record the audit chain's head (seq, hash, time), signed with PREFLIGHT_AUDIT_ANCHOR_KEY, "
        "in the anchor store outside the database (and in S3 and to webhooks subscribed to "
        "audit.anchored when configured). Refuses, exiting 1, when the chain no longer contains "
        "the previous anchor. Beat runs it every 10 minutes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            anchor, written = anchor_head()
        except AnchorError as exc:
            raise CommandError(str(exc), returncode=1) from exc
        if anchor is None:
            self.stdout.write("the audit log is empty: nothing to anchor yet")
        elif written:
            self.stdout.write(f"anchored {anchor.seq}:{anchor.hash} in {store().path}")
        else:
            self.stdout.write(f"head unchanged since the newest anchor ({anchor.describe()})")
