from __future__ import annotations

from celery import shared_task

from .anchors import anchor_head
from .verification import chain_verification_record


@shared_task(name="audit.tasks.anchor_chain")
def anchor_chain() -> int | None:
    """Anchor the audit chain's head outside the database (beat, every 10 minutes). A chain
    that lost its previous anchor raises AnchorError: the task fails loudly in the worker log."""
    anchor, _ = anchor_head()
    return anchor.seq if anchor else None


@shared_task(name="audit.tasks.verify_chain")
def verify_chain() -> bool:
    """Verify the whole chain and store the result the audit log page shows (beat, hourly)."""
    return chain_verification_record().ok
