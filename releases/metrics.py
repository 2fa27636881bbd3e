"""Delivery metrics (DORA) from Preflight's own deployment records.

``load_facts`` reads every deployment of a window in one query, with what the metrics need of
the deployments around it (was it rolled back, which later deployment restored its environment)
computed by PostgreSQL as subqueries. ``compute`` is pure: it turns those facts into the four
metrics, so the definitions below are tested without a database.

Definitions (shown beside the charts):

- a deployment belongs to the window when it *started* inside it;
- **deployment frequency**: verified deployments per day and per week, per environment;
- **lead time for changes**: from a release's creation to its first verified deployment in
  production (the last environment in promotion order); rollbacks are not changes and are left out;
- **change failure rate**: deployments that failed, failed verification or were rolled back,
  divided by all finished deployments (those still in progress have no outcome yet);
- **time to restore**: from a failure to the next verified deployment in that environment.
  Failures restored by the same deployment are one incident, timed from the first of them.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import OuterRef, Subquery

from .models import Deployment, DeploymentStatus, Environment, Project

WINDOW_CHOICES = (7, 30, 90, 180)
DEFAULT_WINDOW_DAYS = 90
# Up to this many days a chart has a bar per day; longer windows get a bar per week.
DAILY_BUCKETS_UP_TO = 31

DEFINITIONS = {
    "frequency": "Verified deployments per day and per week, counted by the day they started.",
    "lead_time": (
        "From a release's creation to its first verified deployment in production, "
        "median over the releases verified in the window. Rollbacks are not changes and are left out."
    ),
    "failure_rate": (
        "Deployments that failed, failed verification or were rolled back, divided by all "
        "finished deployments in the window (rollbacks included; those still in progress are not)."
    ),
    "restore": (
        "From a failure to the next verified deployment in the same environment, median over the "
        "incidents in the window. Failures restored by the same deployment are one incident."
    ),
}

FAILED_STATUSES = frozenset({DeploymentStatus.FAILED, DeploymentStatus.VERIFICATION_FAILED})


@dataclass(frozen=True)
class Window:
    """[start, end): whole UTC days, the last one being ``end``'s day."""

    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, *, now: datetime) -> Window:
        end = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
        end += timedelta(days=1)
        return cls(start=end - timedelta(days=days), end=end)

    @classmethod
    def between(cls, first: date, last: date) -> Window:
        """From the start of ``first`` to the end of ``last`` (both UTC days, inclusive)."""
        start = datetime.combine(first, time(), UTC)
        end = datetime.combine(last, time(), UTC) + timedelta(days=1)
        return cls(start=start, end=end)

    @property
    def days(self) -> int:
        return max(1, round((self.end - self.start) / timedelta(days=1)))

    @property
    def bucket(self) -> timedelta:
        return timedelta(days=1 if self.days <= DAILY_BUCKETS_UP_TO else 7)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()

    def bucket_starts(self) -> list[datetime]:
        starts, at = [], self.start
        while at < self.end:
            starts.append(at)
            at += self.bucket
        return starts

    def bucket_of(self, moment: datetime) -> int:
        return int((moment - self.start) / self.bucket)


@dataclass(frozen=True)
class DeploymentFact:
    """What the metrics need to know of one deployment."""

    id: int
    environment_id: int
    release_id: int
    version: str
    release_created_at: datetime
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    verified_at: datetime | None = None
    is_rollback: bool = False
    # When a rollback of this deployment started, if one did.
    rolled_back_at: datetime | None = None
    # The next deployment in the same environment that was verified, and when.
    restored_by: int | None = None
    restored_at: datetime | None = None

    @property
    def is_failure(self) -> bool:
        return self.status in FAILED_STATUSES or self.rolled_back_at is not None

    @property
    def is_finished(self) -> bool:
        return self.status != DeploymentStatus.IN_PROGRESS

    @property
    def failed_at(self) -> datetime:
        """When the environment went bad: a failed deployment when it ended, a failed
        verification when the release went live, a good one when its rollback started."""
        if self.status in FAILED_STATUSES:
            return self.finished_at or self.started_at
        return self.rolled_back_at or self.finished_at or self.started_at


@dataclass(frozen=True)
class Incident:
    environment_id: int
    failed_at: datetime
    deployments: tuple[int, ...]
    restored_by: int | None
    restored_at: datetime | None

    @property
    def time_to_restore(self) -> timedelta | None:
        if self.restored_at is None:
            return None
        return max(self.restored_at - self.failed_at, timedelta(0))


@dataclass(frozen=True)
class LeadTime:
    release_id: int
    version: str
    created_at: datetime
    verified_at: datetime

    @property
    def duration(self) -> timedelta:
        return max(self.verified_at - self.created_at, timedelta(0))


@dataclass(frozen=True)
class Bucket:
    start: datetime
    verified: int = 0
    finished: int = 0
    failures: int = 0


@dataclass
class EnvironmentMetrics:
    environment_id: int
    window: Window
    finished: int = 0
    verified: int = 0
    failures: int = 0
    incidents: list[Incident] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def per_day(self) -> float:
        return self.verified / self.window.days

    @property
    def per_week(self) -> float:
        return self.verified * 7 / self.window.days

    @property
    def change_failure_rate(self) -> float | None:
        return self.failures / self.finished if self.finished else None

    @property
    def restored(self) -> list[Incident]:
        return [i for i in self.incidents if i.restored_at is not None]

    @property
    def open_incidents(self) -> list[Incident]:
        return [i for i in self.incidents if i.restored_at is None]

    @property
    def time_to_restore(self) -> timedelta | None:
        return median_duration(
            i.time_to_restore for i in self.incidents if i.time_to_restore is not None
        )


@dataclass
class DeliveryMetrics:
    window: Window
    environments: dict[int, EnvironmentMetrics]
    production_id: int | None
    lead_times: list[LeadTime]

    @property
    def lead_time(self) -> timedelta | None:
        return median_duration(lt.duration for lt in self.lead_times)

    @property
    def production(self) -> EnvironmentMetrics | None:
        if self.production_id is None:
            return None
        return self.environments.get(self.production_id)


def median_duration(durations: Iterable[timedelta]) -> timedelta | None:
    seconds = [d.total_seconds() for d in durations]
    return timedelta(seconds=statistics.median(seconds)) if seconds else None


def compute(
    facts: Sequence[DeploymentFact],
    *,
    window: Window,
    environment_ids: Sequence[int],
    production_id: int | None,
) -> DeliveryMetrics:
    """The four metrics over ``window`` from the facts of the deployments that started in it."""
    starts = window.bucket_starts()
    per_env: dict[int, EnvironmentMetrics] = {}
    for env_id in environment_ids:
        per_env[env_id] = EnvironmentMetrics(environment_id=env_id, window=window)
    counts: dict[int, list[list[int]]] = {
        env_id: [[0, 0, 0] for _ in starts] for env_id in environment_ids
    }
    failures_by_env: dict[int, list[DeploymentFact]] = defaultdict(list)
    first_verified: dict[int, DeploymentFact] = {}

    for fact in facts:
        if not (window.start <= fact.started_at < window.end) or fact.environment_id not in per_env:
            continue
        env = per_env[fact.environment_id]
        row = counts[fact.environment_id][window.bucket_of(fact.started_at)]
        if fact.status == DeploymentStatus.VERIFIED:
            env.verified += 1
            row[0] += 1
        if fact.is_finished:
            env.finished += 1
            row[1] += 1
        if fact.is_failure:
            env.failures += 1
            row[2] += 1
            failures_by_env[fact.environment_id].append(fact)
        if (
            fact.environment_id == production_id
            and fact.status == DeploymentStatus.VERIFIED
            and fact.verified_at is not None
            and not fact.is_rollback
        ):
            known = first_verified.get(fact.release_id)
            if known is None or fact.verified_at < (known.verified_at or fact.verified_at):
                first_verified[fact.release_id] = fact

    for env_id, env in per_env.items():
        env.buckets = [
            Bucket(start=s, verified=c[0], finished=c[1], failures=c[2])
            for s, c in zip(starts, counts[env_id], strict=True)
        ]
        env.incidents = incidents_of(failures_by_env.get(env_id, []))

    lead_times = sorted(
        (
            LeadTime(
                release_id=f.release_id,
                version=f.version,
                created_at=f.release_created_at,
                verified_at=f.verified_at,
            )
            for f in first_verified.values()
            if f.verified_at is not None
        ),
        key=lambda lt: (lt.verified_at, lt.release_id),
    )
    return DeliveryMetrics(
        window=window, environments=per_env, production_id=production_id, lead_times=lead_times
    )


def incidents_of(failures: Iterable[DeploymentFact]) -> list[Incident]:
    """Group an environment's failures by the deployment that restored them: a second failure
    before the environment recovered is part of the same outage, not a new one."""
    groups: dict[int | None, list[DeploymentFact]] = defaultdict(list)
    for fact in failures:
        groups[fact.restored_by].append(fact)
    incidents = []
    for restored_by, members in groups.items():
        members.sort(key=lambda f: (f.failed_at, f.id))
        incidents.append(
            Incident(
                environment_id=members[0].environment_id,
                failed_at=members[0].failed_at,
                deployments=tuple(f.id for f in members),
                restored_by=restored_by,
                restored_at=members[0].restored_at if restored_by is not None else None,
            )
        )
    incidents.sort(key=lambda i: (i.failed_at, i.deployments))
    return incidents


def load_facts(environments: Sequence[Environment], window: Window) -> list[DeploymentFact]:
    """One query: the deployments that started in the window in these environments, with their
    rollback and restoring deployment looked up by correlated subqueries (both served by the
    ``deployment_env_recent`` index and the ``rollback_of`` foreign-key index)."""
    if not environments:
        return []
    first_rollback = Deployment.objects.filter(rollback_of=OuterRef("pk")).order_by(
        "started_at", "id"
    )
    next_verified = Deployment.objects.filter(
        environment_id=OuterRef("environment_id"),
        status=DeploymentStatus.VERIFIED,
        started_at__gt=OuterRef("started_at"),
    ).order_by("started_at", "id")
    rows = (
        Deployment.objects.filter(
            environment__in=[e.pk for e in environments],
            started_at__gte=window.start,
            started_at__lt=window.end,
        )
        .annotate(
            rolled_back_at=Subquery(first_rollback.values("started_at")[:1]),
            restored_by=Subquery(next_verified.values("id")[:1]),
            restored_at=Subquery(next_verified.values("verified_at")[:1]),
        )
        .order_by("started_at", "id")
        .values_list(
            "id",
            "environment_id",
            "release_id",
            "release__version",
            "release__created_at",
            "status",
            "started_at",
            "finished_at",
            "verified_at",
            "rollback_of_id",
            "rolled_back_at",
            "restored_by",
            "restored_at",
        )
    )
    return [
        DeploymentFact(
            id=r[0],
            environment_id=r[1],
            release_id=r[2],
            version=r[3],
            release_created_at=r[4],
            status=r[5],
            started_at=r[6],
            finished_at=r[7],
            verified_at=r[8],
            is_rollback=r[9] is not None,
            rolled_back_at=r[10],
            restored_by=r[11],
            restored_at=r[12],
        )
        for r in rows
    ]


def delivery_metrics(
    project: Project, window: Window, *, environments: Sequence[Environment] | None = None
) -> DeliveryMetrics:
    """The project's metrics over the window, for every environment: two queries, however many
    deployments there are (one when the caller passes the environments it already loaded, in
    promotion order)."""
    if environments is None:
        environments = list(Environment.objects.filter(project=project).order_by("position"))
    # Production is the last environment in promotion order.
    production = environments[-1] if environments else None
    return compute(
        load_facts(environments, window),
        window=window,
        environment_ids=[e.pk for e in environments],
        production_id=production.pk if production else None,
    )
