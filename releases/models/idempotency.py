from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key`` header, kept so a retry gets
    the same answer instead of doing the work twice.

    A key belongs to the principal that sent it (``token:<id>`` or ``user:<id>``): two pipelines
    choosing the same key never see each other's answers. The request is claimed by inserting
    this row; the unique constraint makes concurrent duplicates lose the insert, so exactly one
    of them does the work. in_flight → done; a request that crashed gives its key back."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "in flight"
        DONE = "done"

    principal = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="sha256 of the method, the path and the body."
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(
        blank=True, help_text="The JSON answered, exactly as sent, so a replay is identical."
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="idempotency_key_per_principal"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_age")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] by {self.principal} ({self.state})"
