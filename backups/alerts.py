"""Backup alerts: a webhook and an audit event when a condition starts, an audit event when it
clears, nothing while it stays as it was. Beat tasks re-judge every few minutes; the state in
``Alert`` keeps that from paging anyone every few minutes."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking
from releases import webhooks

from .models import Alert, Database

WATCHER = Actor.of_system("backup-watch")

EVENTS = {
    Alert.Condition.BACKUP_STALE: "backup.stale",
    Alert.Condition.BACKUP_FAILED: "backup.failed",
    # A backup far smaller than the one before it, or over its limit, is as good as failed
    # until someone looks: it goes out as backup.failed with ``condition`` saying which.
    Alert.Condition.BACKUP_SIZE: "backup.failed",
    Alert.Condition.DRILL_FAILED: "drill.failed",
    # No passed drill lately means the backups are untested: the drill, as a duty, failed.
    Alert.Condition.DRILL_OVERDUE: "drill.failed",
    Alert.Condition.WAL_FAILING: "wal.failing",
}


def _state(database: Database, condition: str) -> Alert:
    """The condition's row, locked; created on first use. get_or_create already settles two
    creators racing on the unique constraint (the loser reads the winner's row, locked)."""
    state, _ = locking.rows(Alert.objects.all()).get_or_create(
        database=database, condition=condition
    )
    return state


def judge(
    database: Database,
    condition: str,
    *,
    active: bool,
    message: str = "",
    data: dict[str, Any] | None = None,
    actor: Actor = WATCHER,
) -> bool:
    """Record the condition's current truth. Returns True when an alert went out."""
    with transaction.atomic():
        state = _state(database, condition)
        if active == state.active:
            return False
        now = timezone.now()
        event = EVENTS[Alert.Condition(condition)]
        state.active = active
        if active:
            state.message, state.raised_at, state.cleared_at = message, now, None
        else:
            state.cleared_at = now
        state.save()
        details = {"database": database.name, "condition": condition, "summary": message}
        if active:
            webhooks.emit(
                project=database.project_id, event=event, data={**details, **(data or {})}
            )
        audit.record(
            actor=actor,
            action="alert.raised" if active else "alert.cleared",
            obj=database,
            project_id=database.project_id,
            after={**details, "event": event},
        )
    return active
