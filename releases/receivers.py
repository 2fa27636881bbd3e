"""What the release domain does when the audit app announces something."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from audit.anchors import Anchor, anchored

from . import webhooks


@receiver(anchored, dispatch_uid="releases-announce-audit-anchor")
def _announce_anchor(sender: Any, anchor: Anchor, **kwargs: Any) -> None:
    # A copy of every anchor at each receiver that asked for one: witnesses outside this machine.
    webhooks.emit(project=None, event="audit.anchored", data=anchor.as_dict())
