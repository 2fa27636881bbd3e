"""What the backups page shows of each database: freshness (by the same rules as the watch and
the ``backup`` readiness check: backups.services.watch.freshness), the size trend, restore
drills and their recovery times, and WAL archiving. A fixed number of queries per database,
however long its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from preflight.web.charts import BarChart, Point, Series, bar_chart, hours, size

from .models import Alert, Backup, Database, RestoreDrill, WalSample
from .services.watch import freshness

RECENT_BACKUPS = 30
RECENT_DRILLS = 12
RECENT_WAL_SAMPLES = 24


@dataclass
class DatabasePanel:
    database: Database
    backup_problem: str
    drill_problem: str
    last_backup: Backup | None
    last_verified: Backup | None
    backups: list[Backup]
    drills: list[RestoreDrill]
    wal: list[WalSample]
    alerts: list[Alert]
    size_chart: BarChart
    rto_chart: BarChart
    now: datetime = field(default_factory=timezone.now)

    @property
    def active_drill(self) -> RestoreDrill | None:
        """A drill still queued or running: the panel polls until it ends."""
        return next(
            (
                d
                for d in self.drills
                if d.status in (RestoreDrill.Status.QUEUED, RestoreDrill.Status.RUNNING)
            ),
            None,
        )

    @property
    def expected_backup_every(self) -> str:
        return hours(self.database.max_backup_age.total_seconds())

    @property
    def expected_drill_every(self) -> str:
        return hours(self.database.max_drill_age.total_seconds())

    @property
    def last_wal(self) -> WalSample | None:
        return self.wal[0] if self.wal else None

    @property
    def wal_oldest_first(self) -> list[WalSample]:
        return list(reversed(self.wal))

    @property
    def wal_troubled(self) -> int:
        """How many of the recent samples were not healthy."""
        return sum(1 for w in self.wal if w.state != WalSample.State.HEALTHY)

    @property
    def has_history(self) -> bool:
        return bool(self.backups or self.drills or self.wal)


def _count(n: int, noun: str) -> str:
    return noun if n == 1 else f"{n} {noun}s"


def _size_chart(database: Database, backups: list[Backup]) -> BarChart:
    sized = [
        b
        for b in reversed(backups)
        if b.size_bytes is not None and b.status == Backup.Status.SUCCEEDED
    ]
    return bar_chart(
        [
            Point(
                label=f"{b.started_at:%b %-d}",
                values=(float(b.size_bytes or 0),),
                title=f"{b.kind} backup {b.started_at:%Y-%m-%d %H:%M} UTC: {size(b.size_bytes or 0)}",
            )
            for b in sized
        ],
        series=[Series("size", "info")],
        summary=(
            f"Size of the last {_count(len(sized), 'successful backup')} of {database.name}: latest {size(sized[-1].size_bytes or 0)}."
            if sized
            else f"No successful backup of {database.name} has a size recorded."
        ),
        fmt=size,
    )


def _rto_chart(database: Database, drills: list[RestoreDrill]) -> BarChart:
    timed = [d for d in reversed(drills) if d.restore_seconds is not None and d.finished_at]
    points = []
    for d in timed:
        seconds = d.restore_seconds or 0.0
        passed = d.status == RestoreDrill.Status.PASSED
        points.append(
            Point(
                label=f"{d.finished_at:%b %-d}",
                values=(seconds, 0.0) if passed else (0.0, seconds),
                title=f"Drill #{d.pk} {d.status} after {hours(seconds)}",
            )
        )
    return bar_chart(
        points,
        series=[Series("passed", "pass"), Series("failed", "fail")],
        summary=(
            f"Measured recovery time (RTO) of the last {_count(len(timed), 'drill')} of {database.name}."
            if timed
            else f"No restore drill of {database.name} has been timed yet."
        ),
        fmt=hours,
    )


def database_panel(database: Database, *, now: datetime | None = None) -> DatabasePanel:
    now = now or timezone.now()
    backup_problem, drill_problem = freshness(database, now)
    backups = list(
        Backup.objects.filter(database=database, deleted_at__isnull=True).order_by(
            "-started_at", "-id"
        )[:RECENT_BACKUPS]
    )
    drills = list(
        RestoreDrill.objects.filter(database=database)
        .select_related("backup")
        .order_by("-created_at", "-id")[:RECENT_DRILLS]
    )
    wal = list(
        WalSample.objects.filter(database=database).order_by("-taken_at", "-id")[
            :RECENT_WAL_SAMPLES
        ]
    )
    for drill in drills:
        rto, rpo = drill.restore_seconds, drill.data_age_seconds
        drill.restore_text = hours(rto) if rto is not None else ""  # type: ignore[attr-defined]
        drill.data_age_text = hours(rpo) if rpo is not None else ""  # type: ignore[attr-defined]
    alerts = [a for a in database.alerts.all() if a.active]
    succeeded = [b for b in backups if b.status == Backup.Status.SUCCEEDED]
    return DatabasePanel(
        database=database,
        backup_problem=backup_problem,
        drill_problem=drill_problem,
        last_backup=succeeded[0] if succeeded else None,
        last_verified=next((b for b in succeeded if b.verified), None),
        backups=backups,
        drills=drills,
        wal=wal,
        alerts=alerts,
        size_chart=_size_chart(database, backups),
        rto_chart=_rto_chart(database, drills),
        now=now,
    )
