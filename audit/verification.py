"""Periodic verification of the whole chain, and the stored result pages show.

A full verification reads and hashes every event: at a million events that is seconds of a
worker's time, not something a page view should do. Beat runs it hourly
(``audit.tasks.verify_chain``), ``verify_audit`` runs it on demand, and both store the result;
the audit log page shows the newest one ("verified up to #N at T: intact")."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from .anchors import verify
from .models import ChainVerification


def chain_verification_record(*, now: datetime | None = None) -> ChainVerification:
    """Verify the chain and its newest anchor now, and keep the result."""
    report = verify()
    return ChainVerification.objects.create(
        verified_at=now or timezone.now(),
        head_seq=report.head_seq,
        checked=report.checked,
        ok=report.ok,
        anchored_seq=report.newest.seq if report.ok and report.newest else None,
        detail=report.describe(),
    )


def latest_verification() -> ChainVerification | None:
    return ChainVerification.objects.order_by("-verified_at", "-id").first()
