from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Message(models.Model):
    """A Celery task to send, written in the transaction of the change that causes it.

    Unsent (``sent_at`` empty) until the relay has handed it to the broker; done (``done_at``)
    once a worker ran it to its end — or, for a message run ``here``, once the process that
    committed it ran it. A sent message that is not done in time is sent again (the broker may
    have lost it: Redis restarted empty), so tasks must be safe to run twice, as they are."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    # Run in the committing process right after commit (what used to be an on-commit call);
    # sent to a worker only when that did not happen.
    here = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(default=timezone.now)
    # While a relay publishes (or runs) it: nobody else takes it until then.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], condition=Q(done_at__isnull=True), name="outbox_open"),
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
