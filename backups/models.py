from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from releases.models import Project

from . import schedules

NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$", "Use lowercase letters, digits, - and _."
)
ENV_NAME_VALIDATOR = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", "Name an environment variable, e.g. POS_DATABASE_URL."
)
SHA256_VALIDATOR = RegexValidator(
    r"^[0-9a-f]{64}$", "Give the sha256 as 64 lowercase hexadecimal characters."
)


# How long backups are kept when nobody chose: empty ``retention_days`` tells the default from an
# explicit choice (the ``retention_configured`` readiness probe asks for one).
DEFAULT_RETENTION_DAYS = 30


class Database(models.Model):
    """A database whose backups Preflight watches. ``dsn_env`` names the environment variable that
    holds its connection string, for backups Preflight takes itself, restore drills and WAL
    probes; the connection string is never stored."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="databases")
    name = models.CharField(max_length=63, validators=[NAME_VALIDATOR])
    dsn_env = models.CharField(max_length=100, blank=True, validators=[ENV_NAME_VALIDATOR])
    retention_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=f"How long the backups Preflight takes are kept; empty: the default of "
        f"{DEFAULT_RETENTION_DAYS} days.",
    )
    max_backup_age = models.DurationField(
        default=timedelta(hours=26), help_text="A newer verified backup than this is expected."
    )
    max_drill_age = models.DurationField(
        default=timedelta(days=30), help_text="A passed restore drill newer than this is expected."
    )
    size_limit_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    shrink_alarm_ratio = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.50"),
        help_text="Alarm when a backup is smaller than this fraction of the one before it.",
    )
    validation_sql = models.JSONField(
        default=list,
        blank=True,
        help_text="SQL assertions a restored copy must pass: a list of {name, sql}; each query returns one true value.",
    )
    # When beat acts on the database (backups.schedules); changed through
    # backups.services.schedules.database_schedule_change, which audits it.
    backup_schedule = models.CharField(
        max_length=100,
        blank=True,
        default=schedules.DEFAULT_BACKUP_SCHEDULE,
        validators=[schedules.validate],
        help_text=f"When Preflight takes a backup. {schedules.HELP}",
    )
    drill_schedule = models.CharField(
        max_length=100,
        blank=True,
        default=schedules.DEFAULT_DRILL_SCHEDULE,
        validators=[schedules.validate],
        help_text=f"When Preflight runs a restore drill. {schedules.HELP}",
    )
    wal_schedule = models.CharField(
        max_length=100,
        blank=True,
        default=schedules.DEFAULT_WAL_SCHEDULE,
        validators=[schedules.validate],
        help_text=f"When Preflight samples WAL archiving. {schedules.HELP}",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="database_name_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.name}"

    @property
    def kept_days(self) -> int:
        """The retention in force: the database's own, or the default."""
        return self.retention_days if self.retention_days is not None else DEFAULT_RETENTION_DAYS

    # The freshness rules, shared by the ``backup`` readiness check and the backup watch.

    def last_verified_backup(self, *, taken_only: bool = False) -> Backup | None:
        """The newest backup that succeeded, was verified and whose file is still kept (with
        ``taken_only``, of those Preflight took itself: the ones it can restore). Newest by
        ``taken_at``, the time its age is judged by."""
        backups = _verified_backups().filter(database=self)
        if taken_only:
            backups = backups.filter(source=Backup.Source.TAKEN)
        return backups.order_by(*_NEWEST_TAKEN_FIRST).first()

    @staticmethod
    def last_verified_backups(databases: Iterable[Database]) -> dict[int, Backup]:
        """``last_verified_backup`` of each of ``databases`` that has one, by database id, in one
        query."""
        ranked = (
            _verified_backups()
            .filter(database__in=databases)
            .annotate(
                newest=Window(
                    RowNumber(), partition_by=F("database_id"), order_by=_NEWEST_TAKEN_FIRST
                )
            )
            .filter(newest=1)
            .order_by()
        )
        return {b.database_id: b for b in ranked}

    def backup_is_stale(self, backup: Backup, now: datetime) -> bool:
        return now - backup.taken_at > self.max_backup_age

    def drill_is_overdue(self, finished_at: datetime, now: datetime) -> bool:
        return now - finished_at > self.max_drill_age


class Backup(models.Model):
    """A backup of a database: reported by an outside job, or taken by Preflight itself."""

    class Kind(models.TextChoices):
        FULL = "full"
        INCREMENTAL = "incremental"
        DIFFERENTIAL = "differential"
        WAL = "wal"

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Source(models.TextChoices):
        REPORTED = "reported"
        TAKEN = "taken"

    database = models.ForeignKey(Database, on_delete=models.CASCADE, related_name="backups")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.FULL)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.REPORTED)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, validators=[SHA256_VALIDATOR])
    location = models.CharField(max_length=500, blank=True)
    encrypted = models.BooleanField(default=False)
    verified = models.BooleanField(
        default=False, help_text="Its checksum was verified after it was written."
    )
    manifest = models.JSONField(
        default=dict, blank=True, help_text="Row count per table at backup time."
    )
    error = models.TextField(blank=True)
    keep_until = models.DateTimeField(
        null=True, blank=True, help_text="Overrides the database's retention for this backup."
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    reported_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["database", "-started_at"], name="backup_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                name="backup_finishes_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} backup of {self.database} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def taken_at(self) -> datetime:
        """When the backup's data is from, for its age: its end when known, else its start."""
        return self.finished_at or self.started_at


def _verified_backups() -> models.QuerySet[Backup]:
    return Backup.objects.filter(
        status=Backup.Status.SUCCEEDED, verified=True, deleted_at__isnull=True
    )


# By ``taken_at``: a backup without a finish time is as old as its start, not the newest (a
# descending sort would put its NULL first on PostgreSQL).
_NEWEST_TAKEN_FIRST = (Coalesce("finished_at", "started_at").desc(), F("id").desc())


class RestoreDrill(models.Model):
    """A backup restored into a scratch database and validated: the measured recovery time."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"

    database = models.ForeignKey(Database, on_delete=models.CASCADE, related_name="drills")
    backup = models.ForeignKey(
        Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="drills"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    restore_seconds = models.FloatField(
        null=True, blank=True, help_text="Measured recovery time (RTO)."
    )
    data_age_seconds = models.FloatField(
        null=True, blank=True, help_text="Age of the restored data at restore time (RPO)."
    )
    validations = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["database", "-created_at"], name="drill_recent")]

    def __str__(self) -> str:
        return f"restore drill #{self.pk} of {self.database} ({self.status})"


class WalSample(models.Model):
    """One reading of a database's WAL archiving (pg_stat_archiver), judged against thresholds."""

    class State(models.TextChoices):
        HEALTHY = "healthy"
        STALE = "stale"
        FAILING = "failing"
        UNKNOWN = "unknown"

    database = models.ForeignKey(Database, on_delete=models.CASCADE, related_name="wal_samples")
    taken_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices)
    message = models.TextField(blank=True)
    archive_mode = models.CharField(max_length=10, blank=True)
    archive_command = models.TextField(blank=True)
    archived_count = models.BigIntegerField(null=True, blank=True)
    failed_count = models.BigIntegerField(null=True, blank=True)
    last_archived_wal = models.CharField(max_length=100, blank=True)
    last_archived_at = models.DateTimeField(null=True, blank=True)
    last_failed_wal = models.CharField(max_length=100, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-taken_at", "-id"]
        verbose_name = "WAL sample"
        indexes = [models.Index(fields=["database", "-taken_at"], name="wal_recent")]

    def __str__(self) -> str:
        return f"WAL archiving of {self.database}: {self.state}"


class Alert(models.Model):
    """The current state of one alerting condition of a database. An alert goes out (webhook and
    audit event) when a condition becomes true and is recorded again when it clears, never while
    it merely stays true: a beat task re-judging every minute must not page every minute."""

    class Condition(models.TextChoices):
        BACKUP_STALE = "backup_stale", "Backup stale"
        BACKUP_FAILED = "backup_failed", "Backup failed"
        BACKUP_SIZE = "backup_size", "Backup size"
        DRILL_FAILED = "drill_failed", "Drill failed"
        DRILL_OVERDUE = "drill_overdue", "Drill overdue"
        WAL_FAILING = "wal_failing", "WAL archiving failing"

    database = models.ForeignKey(Database, on_delete=models.CASCADE, related_name="alerts")
    condition = models.CharField(max_length=20, choices=Condition.choices)
    active = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["database", "condition"]
        constraints = [
            models.UniqueConstraint(
                fields=["database", "condition"], name="one_alert_state_per_condition"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.condition} alert of {self.database} ({'active' if self.active else 'clear'})"
