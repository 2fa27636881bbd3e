from __future__ import annotations

import secrets

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
)


def _salt() -> str:
    return secrets.token_hex(16)


class Webhook(models.Model):
    """An endpoint that receives a project's events as signed JSON POSTs.

    The signing secret is not stored: it is derived from PREFLIGHT_WEBHOOK_KEY and this webhook's
    ``salt`` (see ``releases.webhooks.signing_secret``), shown once when the webhook is created,
    and changed by giving the webhook a new salt."""

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
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def wants(self, event: str) -> bool:
        return self.is_active and (not self.events or event in self.events)


class WebhookDelivery(models.Model):
    """One event sent (or to be sent) to one webhook: the delivery log."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
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
        indexes = [models.Index(fields=["webhook", "-created_at"], name="delivery_recent")]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.name} ({self.status})"
