from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from .projects import Project

EVENTS = (
    "release.created",
    "run.finished",
    "gate.opened",
    "approval.recorded",
    "deployment.started",
    "deployment.finished",
    "deployment.verified",
    "deployment.verification_failed",
    "rollback.started",
    "lock.changed",
    "override.used",
    "backup.stale",
    "backup.failed",
    "drill.failed",
    "wal.failing",
    "audit.anchored",
)
# Events about the whole installation rather than one project: sent only to webhooks that list
# them by name, never to those subscribed to "every event".
INSTALLATION_EVENTS = frozenset({"audit.anchored"})


def _salt() -> str:
    return secrets.token_hex(16)


class Webhook(models.Model):
    """An endpoint that receives a project's events as JSON POSTs signed by the Standard Webhooks
    specification.

    The signing secrets are not stored: each is derived from PREFLIGHT_WEBHOOK_KEY, this
    webhook's ``salt`` and a ``key_version`` (see ``releases.webhooks.secret_for``). Rotating
    the secret moves to the next version; for PREFLIGHT_WEBHOOK_ROTATION_OVERLAP_HOURS after
    ``rotated_at`` deliveries are signed with the previous version too."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    events = models.JSONField(
        default=list, blank=True, help_text="Event names; empty means every event."
    )
    slack_format = models.BooleanField(
        default=False,
        help_text="Send a Slack-compatible body ({text}) instead of Preflight's JSON.",
    )
    is_active = models.BooleanField(default=True)
    salt = models.CharField(max_length=32, default=_salt, editable=False)
    key_version = models.PositiveIntegerField(default=1, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def wants(self, event: str) -> bool:
        if event in INSTALLATION_EVENTS:
            return self.is_active and event in self.events
        return self.is_active and (not self.events or event in self.events)

    def key_versions(self, now: datetime, overlap: timedelta) -> list[int]:
        """The secret versions that sign a delivery now: the current one, and the previous one
        while the overlap after a rotation lasts."""
        if self.key_version > 1 and self.rotated_at and now < self.rotated_at + overlap:
            return [self.key_version, self.key_version - 1]
        return [self.key_version]


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one webhook: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The Standard Webhooks ``webhook-id``: the same on every attempt and redelivery, so
    # receivers de-duplicate on it; random, so it never repeats after a database is reset.
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="delivery_recent"),
            # The retention task deletes by age across every webhook.
            models.Index(fields=["created_at"], name="delivery_age"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.name} ({self.status})"
