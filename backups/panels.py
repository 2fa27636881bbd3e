"""What the backups page shows of each database: freshness (by the same rules as the watch and
the ``backup`` readiness check: backups.services.watch.freshness), the size trend, restore
drills and their recovery times, and WAL archiving. The panels of any number of databases are
loaded in a fixed number of queries, however long their history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import F, Max, Model, QuerySet, Window, prefetch_related_objects
from django.db.models.functions import RowNumber
from django.utils import timezone

from core.web.charts import BarChart, Point, Series, bar_chart, hours, size

from . import schedules
from .models import Alert, Backup, Database, RestoreDrill, WalSample
from .services.drills import DrillsUnavailable, drills_unavailable
from .services.watch import judge_freshness, passed_drills

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
    # Why no drill can start here (no PostgreSQL connection string): the page explains it
    # instead of offering a button that can only fail.
    unavailable: DrillsUnavailable | None = None
    # A drill start refused just now: the card says so itself, beside the banner.
    start_error: str = ""

    @property
    def drill_state(self) -> str:
        """The restore drill card's state, from the last result: bad when the last drill
        failed, a start was refused or drills are overdue; unavailable when none can run here;
        good only when the last drill passed (or none is due yet) and drills can run."""
        last = self.drills[0] if self.drills else None
        if self.start_error or self.drill_problem or (last and last.status == "failed"):
            return "bad"
        if self.unavailable is not None:
            return "unavailable"
        return "good"

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
    def schedules(self) -> str:
        """When beat acts on the database, for the panel's header."""
        d = self.database
        return (
            f"backups {schedules.describe(d.backup_schedule)} · "
            f"drills {schedules.describe(d.drill_schedule)} · "
            f"WAL samples {schedules.describe(d.wal_schedule)}"
        )

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


def _recent[M: Model](
    rows: QuerySet[M], databases: Sequence[Database], newest_first: tuple[str, ...], n: int
) -> dict[int, list[M]]:
    """The ``n`` newest of ``rows`` of each database, newest first, by database id."""
    ranked = (
        rows.filter(database__in=databases)
        .annotate(recent=Window(RowNumber(), partition_by=F("database_id"), order_by=newest_first))
        .filter(recent__lte=n)
        .order_by(*newest_first)
    )
    by_database: dict[int, list[M]] = defaultdict(list)
    for row in ranked:
        by_database[row.database_id].append(row)  # type: ignore[attr-defined]
    return by_database


def database_panels(databases: Iterable[Database], *, now: datetime) -> list[DatabasePanel]:
    """The panels of ``databases``, in their order."""
    databases = list(databases)
    prefetch_related_objects(databases, "project")  # named in the freshness problems
    last_verified = Database.last_verified_backups(databases)
    last_drill_finished: dict[int, datetime] = dict(
        passed_drills()
        .filter(database__in=databases)
        .values("database_id")
        .annotate(last=Max("finished_at"))
        .order_by()
        .values_list("database_id", "last")
    )
    backups = _recent(
        Backup.objects.filter(deleted_at__isnull=True),
        databases,
        ("-started_at", "-id"),
        RECENT_BACKUPS,
    )
    drills = _recent(
        RestoreDrill.objects.select_related("backup"),
        databases,
        ("-created_at", "-id"),
        RECENT_DRILLS,
    )
    wal = _recent(WalSample.objects.all(), databases, ("-taken_at", "-id"), RECENT_WAL_SAMPLES)
    alerts: dict[int, list[Alert]] = defaultdict(list)
    for alert in Alert.objects.filter(database__in=databases, active=True).order_by(
        "database_id", "condition"
    ):
        alerts[alert.database_id].append(alert)
    return [
        _panel(
            d,
            now=now,
            last_verified=last_verified.get(d.pk),
            last_drill_finished=last_drill_finished.get(d.pk),
            backups=backups[d.pk],
            drills=drills[d.pk],
            wal=wal[d.pk],
            alerts=alerts[d.pk],
        )
        for d in databases
    ]


def database_panel(database: Database, *, now: datetime | None = None) -> DatabasePanel:
    return database_panels([database], now=now or timezone.now())[0]


def _panel(
    database: Database,
    *,
    now: datetime,
    last_verified: Backup | None,
    last_drill_finished: datetime | None,
    backups: list[Backup],
    drills: list[RestoreDrill],
    wal: list[WalSample],
    alerts: list[Alert],
) -> DatabasePanel:
    backup_problem, drill_problem = judge_freshness(
        database, last_verified, last_drill_finished, now
    )
    for drill in drills:
        rto, rpo = drill.restore_seconds, drill.data_age_seconds
        drill.restore_text = hours(rto) if rto is not None else ""  # type: ignore[attr-defined]
        drill.data_age_text = hours(rpo) if rpo is not None else ""  # type: ignore[attr-defined]
    succeeded = [b for b in backups if b.status == Backup.Status.SUCCEEDED]
    return DatabasePanel(
        database=database,
        backup_problem=backup_problem,
        drill_problem=drill_problem,
        last_backup=succeeded[0] if succeeded else None,
        last_verified=last_verified,
        backups=backups,
        drills=drills,
        wal=wal,
        alerts=alerts,
        size_chart=_size_chart(database, backups),
        rto_chart=_rto_chart(database, drills),
        now=now,
        unavailable=drills_unavailable(database),
    )
