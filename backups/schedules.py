"""When beat takes each database's backups, runs its restore drills and samples its WAL archiving.

A schedule is written as text, so one field holds it, a form edits it and an audit event shows
it as the person wrote it:

- five cron fields, ``minute hour day-of-month month day-of-week`` (``0 2 * * *`` is every day at
  02:00 in the server's time zone, ``settings.TIME_ZONE``);
- ``every N seconds|minutes|hours`` (``every 60 seconds``; ``s``, ``m`` and ``h`` do too);
- nothing: not scheduled.

``beat_entries`` is what the database scheduler (preflight.beat) reads: one entry per database
and schedule, each naming a task that takes the database's id."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from celery.schedules import BaseSchedule, crontab, schedule
from django.core.exceptions import ValidationError

log = logging.getLogger(__name__)

DEFAULT_BACKUP_SCHEDULE = "0 2 * * *"
DEFAULT_DRILL_SCHEDULE = "0 4 * * *"
DEFAULT_WAL_SCHEDULE = "every 60 seconds"

# Below this an interval is a mistake rather than a schedule: each run connects to the database.
MIN_INTERVAL = timedelta(seconds=5)

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
_CRON_FIELD_NAMES = {
    "minute": "minute",
    "hour": "hour",
    "day_of_month": "day of the month",
    "month_of_year": "month",
    "day_of_week": "day of the week",
}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}
_INTERVAL = re.compile(
    r"^every\s+(?P<count>\d{1,7})\s*(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hours?)$",
    re.IGNORECASE,
)

# (what runs, the Database field that holds its schedule, the task beat sends)
JOBS = (
    ("backup", "backup_schedule", "backups.tasks.take_scheduled_backup"),
    ("drill", "drill_schedule", "backups.tasks.run_scheduled_drill"),
    ("wal", "wal_schedule", "backups.tasks.sample_database_wal"),
)

HELP = (
    "Five cron fields (minute hour day-of-month month day-of-week, server time zone), "
    "“every N seconds/minutes/hours”, or empty for never."
)


def parse(text: str) -> BaseSchedule | None:
    """The Celery schedule ``text`` describes, None when it is empty; ValueError, with a message
    for the person who wrote it, when it is neither cron fields nor an interval."""
    text = " ".join(text.split())
    if not text:
        return None
    if text.lower().startswith("every"):
        return schedule(run_every=_interval(text))
    return _crontab(text)


def _interval(text: str) -> timedelta:
    match = _INTERVAL.match(text)
    if match is None:
        raise ValueError(
            f"“{text}” is not an interval: write it as “every 30 seconds”, “every 15 minutes” "
            "or “every 2 hours”."
        )
    unit = _UNITS[match["unit"][0].lower()]
    every = timedelta(**{unit: int(match["count"])})
    if every < MIN_INTERVAL:
        raise ValueError(f"Run at most every {int(MIN_INTERVAL.total_seconds())} seconds.")
    return every


def _crontab(text: str) -> crontab:
    fields = text.split(" ")
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"“{text}” has {len(fields)} field{'s' if len(fields) != 1 else ''}: a cron "
            "schedule has five (minute hour day-of-month month day-of-week), e.g. “0 2 * * *”."
        )
    spec = dict(zip(CRON_FIELDS, fields, strict=True))
    # Celery checks all fields at once and may blame the wrong one; one at a time names it.
    for name, value in spec.items():
        try:
            crontab(**{name: value})
        except ValueError as error:
            raise ValueError(f"The {_CRON_FIELD_NAMES[name]} “{value}”: {error}") from None
    try:
        return crontab(**spec)
    except ValueError as error:
        raise ValueError(str(error)) from None


def validate(text: str) -> None:
    """The model field's validator: the same rule for the schedule form and the admin."""
    try:
        parse(text)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_schedule") from None


def normalized(text: str) -> str:
    """The text as stored: runs of whitespace made one space, so “0  2 * * *” is no change."""
    return " ".join(text.split())


def describe(text: str) -> str:
    """A short reading of a schedule for the page."""
    try:
        parsed = parse(text)
    except ValueError:
        return f"“{text}” (not a schedule: it never runs)"
    if parsed is None:
        return "never"
    if isinstance(parsed, crontab):
        return f"cron {normalized(text)}"
    return normalized(text).lower()


def beat_entries() -> dict[str, dict[str, Any]]:
    """Beat's entries for every database Preflight can connect to (it names a connection
    string's variable), keyed by a name that survives renaming the database. Whether the
    variable is set is the worker's business: beat may run where the secrets are not."""
    from .models import Database

    entries: dict[str, dict[str, Any]] = {}
    fields = [field for _, field, _ in JOBS]
    for row in Database.objects.exclude(dsn_env="").order_by("pk").values("pk", *fields):
        for job, field, task in JOBS:
            try:
                parsed = parse(row[field])
            except ValueError:
                # Written past the validator (raw SQL): this one schedule stops, not beat.
                log.exception("database %s: %s %r is no schedule", row["pk"], field, row[field])
                continue
            if parsed is None:
                continue
            entries[f"database-{row['pk']}-{job}"] = {
                "task": task,
                "schedule": parsed,
                "args": (row["pk"],),
            }
    return entries
