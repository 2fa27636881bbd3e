from __future__ import annotations

from django.db import models


class EntryState(models.Model):
    """When beat last sent one schedule entry's task, so a restarted beat (a new container, a
    deploy) neither skips a run nor repeats one. The schedules themselves live with what they
    schedule (settings, ``backups.Database``); this is only beat's memory of them."""

    name = models.CharField(max_length=200, unique=True)
    last_run_at = models.DateTimeField()
    total_run_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
