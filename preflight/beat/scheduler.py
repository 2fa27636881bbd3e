"""Celery beat's scheduler with its schedule read from the database and its state kept there.

``celery -A preflight beat --scheduler=preflight.beat.scheduler:DatabaseScheduler``

The schedule is the settings' ``CELERY_BEAT_SCHEDULE`` (the reapers and purges, the same on every
installation) plus what each function in ``PREFLIGHT_BEAT_ENTRIES`` returns (the backup, drill and
WAL schedules of each database, which admins edit): both read again every
``PREFLIGHT_BEAT_REFRESH_SECONDS``, so a changed schedule takes effect without restarting beat.
When an entry last ran is an ``EntryState`` row, written as soon as its task was sent: a beat
that restarts (a deploy, a new container) carries on where the last one stopped, with no schedule
file to lose.

One beat runs at a time, as before: two would each send every task.

Not django-celery-beat: its 2.9 release requires Django < 6.1, and its schedules would be a second
copy of what ``backups.Database`` holds, to be kept in step and audited apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery.beat import ScheduleEntry, Scheduler
from celery.schedules import crontab
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils.module_loading import import_string

from .models import EntryState

log = logging.getLogger(__name__)


def _fresh_connection() -> None:
    """Drop a connection the database closed (a restart) before using it: beat has no request
    cycle to do it. Not inside a transaction, which only a caller of beat's own (a test) holds."""
    if not connection.in_atomic_block:
        close_old_connections()


class DatabaseScheduler(Scheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._entries: dict[str, ScheduleEntry] = {}
        self._unsaved: set[str] = set()
        self._read_at: float | None = None
        self.refresh_every = float(settings.PREFLIGHT_BEAT_REFRESH_SECONDS)
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        self._refresh()

    def get_schedule(self) -> dict[str, ScheduleEntry]:
        if self._read_at is None or time.monotonic() - self._read_at >= self.refresh_every:
            self._refresh()
        return self._entries

    def set_schedule(self, schedule: dict[str, ScheduleEntry]) -> None:
        self._entries = schedule

    schedule = property(get_schedule, set_schedule)

    # celery-types says ``event_t``; Celery's own reserve returns the next entry, as this one does.
    def reserve(self, entry: ScheduleEntry) -> ScheduleEntry:  # type: ignore[override]
        name = str(entry.name)
        new_entry = self._entries[name] = next(entry)
        self._unsaved.add(name)
        return new_entry

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        # Saved after the task was sent, not before: a beat that dies in between sends it again
        # when it restarts, and every scheduled task is safe to run twice; one lost run would be
        # a missed backup.
        super().apply_entry(entry, producer=producer)
        self.sync()

    def sync(self) -> None:
        """Write when the entries that ran since the last sync ran. A database that is away keeps
        them unsaved until it is back; beat goes on sending from memory meanwhile."""
        if not self._unsaved:
            return
        names = sorted(self._unsaved)
        try:
            _fresh_connection()
            with transaction.atomic():
                for name in names:
                    entry = self._entries.get(name)
                    if entry is None:
                        continue
                    EntryState.objects.update_or_create(
                        name=name,
                        defaults={
                            "last_run_at": entry.last_run_at or self.app.now(),
                            "total_run_count": entry.total_run_count,
                        },
                    )
        except DatabaseError:
            log.exception("beat: could not save when %s ran; trying again later", ", ".join(names))
            return
        self._unsaved.difference_update(names)

    def _wanted(self) -> dict[str, dict[str, Any]]:
        """Every entry the schedule should hold now, as Celery's beat_schedule writes them."""
        wanted: dict[str, dict[str, Any]] = {}
        if self.app.conf.result_expires and not self.app.backend.supports_autoexpire:
            # What Celery's own schedulers add by themselves.
            wanted["celery.backend_cleanup"] = {
                "task": "celery.backend_cleanup",
                "schedule": crontab("0", "4", "*"),
                "options": {"expires": 12 * 3600},
            }
        wanted.update(self.app.conf.beat_schedule or {})
        for path in settings.PREFLIGHT_BEAT_ENTRIES:
            source: Callable[[], dict[str, dict[str, Any]]] = import_string(path)
            wanted.update(source())
        return wanted

    def _refresh(self) -> None:
        """Read the schedule and the state of entries beat has not seen yet. When the database
        cannot be read, the schedule beat has stays in force."""
        self._read_at = time.monotonic()
        try:
            _fresh_connection()
            wanted = self._wanted()
            unseen = [name for name in wanted if name not in self._entries]
            stored = {s.name: s for s in EntryState.objects.filter(name__in=unseen)}
        except DatabaseError:
            log.exception("beat: could not read the schedule; keeping the one in force")
            return

        entries: dict[str, ScheduleEntry] = {}
        first_seen: list[EntryState] = []
        for name, fields in wanted.items():
            entry = self.Entry(**dict(fields, name=name, app=self.app))
            previous = self._entries.get(name)
            if previous is not None:
                entry.last_run_at = previous.last_run_at
                entry.total_run_count = previous.total_run_count
            elif name in stored:
                entry.last_run_at = self._local(stored[name].last_run_at)
                entry.total_run_count = stored[name].total_run_count
            else:
                # An entry's first run comes one interval (or the next cron time) after beat
                # first sees it, as with Celery's file scheduler; remembered from now on.
                first_seen.append(
                    EntryState(name=name, last_run_at=entry.last_run_at or self.app.now())
                )
            entries[name] = entry

        if first_seen:
            try:
                EntryState.objects.bulk_create(first_seen, ignore_conflicts=True)
            except DatabaseError:
                log.exception("beat: could not remember the new entries; trying again later")
                self._unsaved.update(state.name for state in first_seen)
        removed = self._entries.keys() - entries.keys()
        if removed:
            # A schedule switched off and on again later starts afresh rather than catching up.
            try:
                EntryState.objects.filter(name__in=removed).delete()
            except DatabaseError:
                log.exception("beat: could not forget %s", ", ".join(sorted(removed)))
        self._log_changes(entries)
        self._entries = entries

    def _local(self, at: datetime) -> datetime:
        # Cron fields are judged by the local hour and weekday of the last run.
        return at.astimezone(self.app.timezone)

    def _log_changes(self, entries: dict[str, ScheduleEntry]) -> None:
        if not self._entries:
            log.info("beat: %d entries in the schedule", len(entries))
            return
        for name in entries.keys() - self._entries.keys():
            log.info("beat: %s added, %s", name, entries[name].schedule)
        for name in self._entries.keys() - entries.keys():
            log.info("beat: %s removed", name)
        for name in entries.keys() & self._entries.keys():
            if entries[name] != self._entries[name]:
                log.info("beat: %s now %s", name, entries[name].schedule)

    @property
    def info(self) -> str:
        return f"    . schedule -> the database, read every {self.refresh_every:g} s"
