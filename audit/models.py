from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class AppendOnlyError(Exception):
    """Audit events are never changed or deleted once written."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One thing that happened, or was refused: who, what, on which object, when, from where.

    Rows are append-only (a PostgreSQL trigger refuses UPDATE and DELETE) and hash-chained: ``hash``
    is sha256(``prev_hash`` + canonical JSON of the event), and ``seq`` numbers the chain without
    gaps, so ``manage.py verify_audit`` finds any row altered, deleted, inserted or reordered.
    Actor, project and object are stored as values, not foreign keys: events outlive what they name.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True, editable=False)
    actor = models.CharField(max_length=200)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_token_id = models.BigIntegerField(null=True, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    message = models.TextField(blank=True)
    ip = models.CharField(max_length=45, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["project_id", "-seq"], name="audit_project_seq"),
            models.Index(fields=["action", "-seq"], name="audit_action_seq"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            # The audit log page filters within a project and pages by seq (audit/log.py):
            # each filter gets an index that yields its rows already in page order.
            models.Index(fields=["project_id", "action", "-seq"], name="audit_project_action"),
            models.Index(fields=["project_id", "actor", "-seq"], name="audit_project_actor"),
            models.Index(fields=["project_id", "outcome", "-seq"], name="audit_project_outcome"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")


class ChainVerification(models.Model):
    """The result of one verification of the whole chain (beat, hourly, and ``verify_audit``).

    Verifying reads and hashes every event, so pages show the newest of these instead of
    verifying on each view: "verified up to #N at T: intact or broken". Kept outside the chain
    on purpose: a verification changes nothing, and auditing it would move the head it names."""

    verified_at = models.DateTimeField(db_index=True)
    head_seq = models.PositiveBigIntegerField(help_text="The last event the verification read.")
    checked = models.PositiveBigIntegerField(default=0)
    ok = models.BooleanField()
    anchored_seq = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The newest signed anchor the chain was found to hold."
    )
    detail = models.TextField(blank=True, help_text="What verify_audit printed.")

    class Meta:
        ordering = ["-verified_at", "-id"]

    def __str__(self) -> str:
        state = "intact" if self.ok else "broken"
        return f"chain {state} up to #{self.head_seq} at {self.verified_at:%Y-%m-%d %H:%M}"
