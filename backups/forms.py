from __future__ import annotations

from django import forms

from . import schedules


class ScheduleForm(forms.Form):
    """A database's three schedules; whether each is one is the model's rule (backups.schedules),
    checked by the service."""

    backup_schedule = forms.CharField(
        required=False,
        max_length=100,
        label="Backups",
        help_text=f"Default “{schedules.DEFAULT_BACKUP_SCHEDULE}”: every day at 02:00.",
    )
    drill_schedule = forms.CharField(
        required=False,
        max_length=100,
        label="Restore drills",
        help_text=f"Default “{schedules.DEFAULT_DRILL_SCHEDULE}”: every day at 04:00.",
    )
    wal_schedule = forms.CharField(
        required=False,
        max_length=100,
        label="WAL archiving samples",
        help_text=f"Default “{schedules.DEFAULT_WAL_SCHEDULE}”.",
    )
