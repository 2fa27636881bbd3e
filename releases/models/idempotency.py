from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """A final answer to a POST sent with an ``Idempotency-Key`` header, kept so a retry gets the
    same answer instead of doing the work twice (api/idempotency.py).

    Written in the transaction that does the work, and only for answers that are final for their
    request, so a row exists exactly when what it answers has committed; answers that reflect a
    condition of the moment are not kept, and a retry is evaluated afresh. A key belongs to the
    principal that sent it (``token:<id>`` or ``user:<id>``): two pipelines choosing the same key
    never see each other's answers."""

    principal = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64,
        help_text="sha256 of the method, the path and the body (as canonical JSON).",
    )
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.TextField(
        blank=True, help_text="The JSON answered, exactly as sent, so a replay is identical."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="idempotency_key_per_principal"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_age")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] by {self.principal}: {self.response_status}"
