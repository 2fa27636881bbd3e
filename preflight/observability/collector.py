"""State read at scrape time: what is true now, rather than what happened in this process.

Backup and drill freshness, the audit chain's last verification, runs in progress and the
broker's queue come from PostgreSQL and Redis (or the filesystem broker's folder) when
Prometheus scrapes the web server's /metrics, so every process sees the same values and no
directory is shared between containers. A handful of queries, whatever the number of databases.

Ages are seconds; one that has never happened (no verified backup, no passed drill) is +Inf, so
``age > limit`` fires for it as for a stale one. Database labels are
the project's slug and the database's name, both bounded by what an administrator configured.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

QUEUES = ("celery",)
# kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
REDIS_TIMEOUT_SECONDS = 2


def _age(now: datetime, then: datetime | None) -> float:
    return math.inf if then is None else max((now - then).total_seconds(), 0.0)


class StateCollector(Collector):
    """Gauges of Preflight's state. A failure to read one part is logged and reported as
    ``preflight_state_up{part} 0``; the rest of the scrape still answers."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "preflight_state_up",
            "Whether each part of the scrape-time state could be read (1) or not (0).",
            labels=["part"],
        )
        for part, read in (
            ("backups", self._backups),
            ("audit", self._audit),
            ("runs", self._runs),
            ("queue", self._queue),
        ):
            try:
                families = list(read())
            except Exception:  # a scrape must answer with what it could read
                log.warning("metrics: could not read the %s state", part, exc_info=True)
                up.add_metric([part], 0)
                continue
            up.add_metric([part], 1)
            yield from families
        yield up

    def _backups(self) -> Iterator[Metric]:
        from backups.models import Database, RestoreDrill

        now = timezone.now()
        databases = list(
            Database.objects.select_related("project").order_by("project__slug", "name")
        )
        backups = Database.last_verified_backups(databases)
        ended = RestoreDrill.objects.filter(
            status__in=(RestoreDrill.Status.PASSED, RestoreDrill.Status.FAILED),
            finished_at__isnull=False,
        )
        last_outcome = dict(
            ended.annotate(
                newest=Window(
                    RowNumber(),
                    partition_by=F("database_id"),
                    order_by=(F("finished_at").desc(), F("id").desc()),
                )
            )
            .filter(newest=1)
            .order_by()
            .values_list("database_id", "status")
        )
        last_passed = dict(
            ended.values("database_id")
            .annotate(at=Max("finished_at", filter=Q(status=RestoreDrill.Status.PASSED)))
            .order_by()
            .values_list("database_id", "at")
        )
        labels = ["project", "database"]
        backup_age = GaugeMetricFamily(
            "preflight_backup_age_seconds",
            "Age of the newest verified backup still kept (+Inf: none).",
            labels=labels,
        )
        backup_limit = GaugeMetricFamily(
            "preflight_backup_max_age_seconds",
            "The database's max_backup_age: a newer verified backup than this is expected.",
            labels=labels,
        )
        drill_passed = GaugeMetricFamily(
            "preflight_restore_drill_last_passed",
            "Whether the last restore drill that ended passed (1) or failed (0); absent before "
            "the first.",
            labels=labels,
        )
        drill_age = GaugeMetricFamily(
            "preflight_restore_drill_age_seconds",
            "Time since the last restore drill that passed (+Inf: none).",
            labels=labels,
        )
        drill_limit = GaugeMetricFamily(
            "preflight_restore_drill_max_age_seconds",
            "The database's max_drill_age: a passed drill newer than this is expected.",
            labels=labels,
        )
        for database in databases:
            key = [database.project.slug, database.name]
            newest = backups.get(database.pk)
            backup_age.add_metric(key, _age(now, newest.taken_at if newest else None))
            backup_limit.add_metric(key, database.max_backup_age.total_seconds())
            if database.pk in last_outcome:
                passed = last_outcome[database.pk] == RestoreDrill.Status.PASSED
                drill_passed.add_metric(key, 1 if passed else 0)
            drill_age.add_metric(key, _age(now, last_passed.get(database.pk)))
            drill_limit.add_metric(key, database.max_drill_age.total_seconds())
        yield from (backup_age, backup_limit, drill_passed, drill_age, drill_limit)

    def _audit(self) -> Iterator[Metric]:
        from audit.models import AuditEvent, ChainVerification
        from audit.verification import latest_verification

        latest = latest_verification()
        intact_at = (
            ChainVerification.objects.filter(ok=True)
            .order_by("-verified_at")
            .values_list("verified_at", flat=True)
            .first()
        )
        if intact_at is None:
            # Never verified intact: unverified since its first event (a new installation's
            # chain is not hours overdue before the first hourly verification).
            intact_at = (
                AuditEvent.objects.order_by("seq").values_list("occurred_at", flat=True).first()
                or timezone.now()
            )
        age = GaugeMetricFamily(
            "preflight_audit_chain_verification_age_seconds",
            "Time since the audit chain was last verified intact (never: since its first event).",
        )
        age.add_metric([], _age(timezone.now(), intact_at))
        intact = GaugeMetricFamily(
            "preflight_audit_chain_intact",
            "Whether the last verification of the audit chain found it intact (1) or broken (0); "
            "absent before the first.",
        )
        if latest is not None:
            intact.add_metric([], 1 if latest.ok else 0)
        yield from (age, intact)

    def _runs(self) -> Iterator[Metric]:
        from checks.models import ReadinessRun

        active = (ReadinessRun.Status.QUEUED, ReadinessRun.Status.RUNNING)
        counts = dict(
            ReadinessRun.objects.filter(status__in=active)
            .values("status")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "preflight_readiness_runs_active",
            "Runs queued or running now.",
            labels=["status"],
        )
        for status in active:
            family.add_metric([str(status)], counts.get(status, 0))
        yield family

    def _queue(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "preflight_celery_queue_length",
            "Tasks waiting in the broker's queue for a worker.",
            labels=["queue"],
        )
        for queue, length in queue_lengths().items():
            family.add_metric([queue], length)
        yield family


def queue_lengths() -> dict[str, int]:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        names = os.listdir(folder) if os.path.isdir(folder) else []
        return {q: sum(1 for n in names if n.endswith(f".{q}.msg")) for q in QUEUES}
    client = _redis(url)
    with client.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for key in (queue, *(f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS)):
                pipe.llen(key)
        lengths = pipe.execute()
    per_queue = 1 + len(PRIORITY_STEPS)
    return {
        queue: int(sum(lengths[i * per_queue : (i + 1) * per_queue]))
        for i, queue in enumerate(QUEUES)
    }


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
