from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator, URLValidator
from django.db import models
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from releases.models import ApiToken, Deployment, Environment, Project, Release

CODE_VALIDATOR = RegexValidator(
    r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", "Use upper-case letters, digits and hyphens, e.g. DS-001."
)
KEY_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9-]*$", "Use lowercase letters, digits and hyphens."
)


class Severity(models.TextChoices):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Phase(models.TextChoices):
    """When a check is due. Readiness runs cover the two pre-deploy phases; ``during`` items are a
    checklist ticked while deploying; ``post`` checks are the smoke tests of a verification run."""

    PRE_DEPLOY_WEEK = "pre-deploy-week", "pre-deploy (1 week before)"
    PRE_DEPLOY_DAY = "pre-deploy-day", "pre-deploy (1 day before)"
    DURING = "during", "during deployment"
    POST = "post", "post-deployment"


# The phases a readiness run covers; ``post`` belongs to verification runs.
READINESS_PHASES = (Phase.PRE_DEPLOY_WEEK, Phase.PRE_DEPLOY_DAY)


class ResultStatus(models.TextChoices):
    PASS = "pass"  # noqa: S105 - a result status, not a password
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    PENDING = "pending"
    SKIPPED = "skipped"
    WAIVED = "waived"


class Source(models.TextChoices):
    """Who produced a result (PRODUCT.md "Evidence"): Preflight's worker running an automated
    check, a person ticking a manual one, or a pipeline reporting a ``ci`` check with a service
    token of the project. Results recorded before sources were kept are ``legacy``."""

    WORKER = "worker"
    PERSON = "person"
    PIPELINE = "pipeline"
    LEGACY = "legacy", "unknown (recorded before sources were kept)"


class Category(models.Model):
    """A weighted score area of a project (the weights of a project's categories sum to 100)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="categories")
    key = models.CharField(max_length=50, validators=[KEY_VALIDATOR])
    name = models.CharField(max_length=100)
    weight = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "position", "key"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="category_key_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight}%)"


class CheckQuerySet(models.QuerySet["Check"]):
    def applicable(self, project_id: int, environment: Environment, kind: str) -> CheckQuerySet:
        """Active checks of the project for this environment: the pre-deploy phases for a
        readiness run (``kind`` "readiness"); the automated post-deploy checks (smoke tests)
        for a verification run ("verification")."""
        checks = self.filter(project_id=project_id, is_active=True).filter(
            Q(environments__isnull=True) | Q(environments=environment)
        )
        if kind == "verification":
            checks = checks.filter(phase=Phase.POST).exclude(kind="manual")
        else:
            checks = checks.filter(phase__in=READINESS_PHASES)
        return checks.distinct()


class Check(models.Model):
    """An item of a project's readiness catalog. ``kind`` names a module in ``checks.kinds``
    that evaluates it from ``config``; configs never hold secrets (a DSN is named by the
    environment variable that holds it)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="checks")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="checks")
    code = models.CharField(max_length=30, validators=[CODE_VALIDATOR])
    title = models.CharField(max_length=200)
    impact = models.TextField(blank=True)
    action = models.CharField(
        max_length=200,
        blank=True,
        help_text="What to do about it, in the review's words, e.g. Create and test deploy.ps1.",
    )
    section = models.CharField(
        max_length=100, blank=True, help_text="Where the review lists it, e.g. Rollback."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.PRE_DEPLOY_WEEK)
    kind = models.CharField(max_length=20)
    config = models.JSONField(default=dict, blank=True)
    manual_reason = models.TextField(
        blank=True,
        help_text="For a manual check: why a person must judge it (no record or file shows it).",
    )
    environments = models.ManyToManyField(
        Environment,
        blank=True,
        related_name="+",
        help_text="Where the check applies; none chosen means everywhere.",
    )
    in_checklist = models.BooleanField(
        default=False, help_text="Listed in the deployment checklist of its phase."
    )
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    objects = CheckQuerySet.as_manager()

    class Meta:
        ordering = ["project", "position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["project", "code"], name="check_code_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class ReviewBaseline(models.Model):
    """The figures of the hand-written review a catalog reproduces (the catalog's ``review:``).
    The report sets the score it computes beside the one the review assigned by hand and says
    where they part; nothing is scored from these."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="review")
    date = models.DateField()
    score = models.DecimalField(max_digits=4, decimal_places=1)
    title = models.CharField(max_length=200, blank=True)
    # Category key -> the score the review gave it by hand.
    categories = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"review of {self.date}: {self.score}"


class RunQuerySet(models.QuerySet["ReadinessRun"]):
    def finished(self) -> RunQuerySet:
        return self.filter(status=ReadinessRun.Status.FINISHED)


class ReadinessRun(models.Model):
    """One evaluation of every applicable check for (release, environment).

    queued → running → finished | error. A readiness run covers the pre-deploy phases; a
    verification run covers the post phase after a deployment. ``score`` is the score when the
    run finished; pages and the gate recompute it with waivers and ticks granted since."""

    class Kind(models.TextChoices):
        READINESS = "readiness"
        VERIFICATION = "verification"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        ERROR = "error"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="runs")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.READINESS)
    deployment = models.ForeignKey(
        Deployment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="verification_runs",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    score = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    breakdown = models.JSONField(
        default=dict, blank=True, help_text="Category scores and risk summary at finish."
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker took the run up (a killed worker costs one)."
    )
    lease = models.UUIDField(
        null=True,
        blank=True,
        help_text="Which worker execution holds the run; set on each take-over.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["release", "environment", "kind", "-created_at"], name="run_lookup"
            ),
            models.Index(fields=["status", "heartbeat_at"], name="run_liveness"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run #{self.pk} of {self.release.version} for {self.environment.slug}"

    @property
    def is_done(self) -> bool:
        return self.status in (self.Status.FINISHED, self.Status.ERROR)


class CheckResult(models.Model):
    """The outcome of one check in one run. Severity and category are copied from the check when
    the run starts, so a later catalog edit does not rewrite a finished run's score."""

    run = models.ForeignKey(ReadinessRun, on_delete=models.CASCADE, related_name="results")
    check_item = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="results", db_column="check_id"
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(
        max_length=10, choices=ResultStatus.choices, default=ResultStatus.PENDING
    )
    detail = models.TextField(blank=True)
    evidence_url = models.URLField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    evaluated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the run evaluated it; empty while still to do."
    )
    updated_at = models.DateTimeField(default=timezone.now)
    # Who produced it: the person who ticked, or the service token that reported.
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WORKER)
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The second person who confirmed a creator's tick of a critical check.",
    )

    class Meta:
        ordering = ["run", "check_item__position", "check_item__code"]
        constraints = [
            # One result per check per run: a task that runs twice updates, never duplicates.
            models.UniqueConstraint(
                fields=["run", "check_item"], name="one_result_per_check_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_item.code}: {self.status}"


class ReportedResult(models.Model):
    """A result CI reported for a ``ci`` check: history, the latest one counts. Runs read it, and
    a report that arrives after a run evaluated the check updates that run's result."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="reported_results")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    check_item = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="reports", db_column="check_id"
    )
    status = models.CharField(max_length=10, choices=ResultStatus.choices)
    detail = models.TextField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    reported_by_label = models.CharField(max_length=200)
    token = models.ForeignKey(
        ApiToken,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The pipeline's service token; empty for reports recorded before it was kept.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["release", "environment", "check_item", "-created_at"], name="report_lookup"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.check_item.code} reported {self.status} for {self.release}"


class Waiver(models.Model):
    """An approver accepting the risk of one failing, non-critical check for one release."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="waivers")
    check_item = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="waivers", db_column="check_id"
    )
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["release", "check_item"],
                condition=Q(revoked_at__isnull=True),
                name="one_open_waiver_per_release_check",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="waiver_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"waiver of {self.check_item.code} for {self.release}"

    def is_active(self, now: Any = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class TickQuerySet(models.QuerySet["ManualTick"]):
    def latest_per_check(self) -> TickQuerySet:
        """Only the newest tick of each check among these: what the check's state is. The
        database picks them (the history is not read)."""
        newest_first = Window(
            RowNumber(),
            partition_by=[F("release_id"), F("environment_id"), F("check_item_id")],
            order_by=[F("created_at").desc(), F("id").desc()],
        )
        return self.annotate(newest=newest_first).filter(newest=1)


class ManualTick(models.Model):
    """A person confirming a manual check (a checklist item) for a release in an environment.
    Rows are history: the latest one for (release, environment, check) says whether it is ticked."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="ticks")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    check_item = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="ticks", db_column="check_id"
    )
    ticked = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    evidence_url = models.URLField(
        max_length=500, blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    ticked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TickQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["release", "environment", "check_item", "-created_at"], name="tick_lookup"
            ),
        ]

    def __str__(self) -> str:
        state = "ticked" if self.ticked else "unticked"
        return f"{self.check_item.code} {state} for {self.release} in {self.environment.slug}"


class Attestation(models.Model):
    """A second person confirming a tick: four eyes on evidence. A critical manual check ticked by
    the release's creator counts only once someone else attests that very tick; a new tick
    (untick, tick again) needs a new attestation. Withdrawing one keeps the row as history."""

    tick = models.ForeignKey(ManualTick, on_delete=models.CASCADE, related_name="attestations")
    attested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tick"],
                condition=Q(withdrawn_at__isnull=True),
                name="one_open_attestation_per_tick",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tick} attested by {self.attested_by}"


class GateState(models.Model):
    """The gate's last announced answer for (release, environment), to tell when it opens."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    is_open = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["release", "environment"], name="one_gate_state_per_release_environment"
            ),
        ]

    def __str__(self) -> str:
        return f"gate of {self.release} for {self.environment.slug}: {'open' if self.is_open else 'closed'}"


class MigrationRehearsal(models.Model):
    """A release's migrations rehearsed on a restored copy of a database's newest verified
    backup, for one run: shared by every check of the run that names an aspect of it.

    running → passed | failed | error. A running rehearsal whose worker died is taken up
    again by the next check that asks (the worker's lock on it is gone), running once more."""

    class Status(models.TextChoices):
        RUNNING = "running"
        PASSED = "passed"  # applied, assertions held, rolled back to the same schema
        FAILED = "failed"  # something of that did not hold: see its parts
        ERROR = "error"  # it could not be done (no backup, restore failed, a limit ran out)

    run = models.ForeignKey(ReadinessRun, on_delete=models.CASCADE, related_name="rehearsals")
    database = models.ForeignKey(
        "backups.Database", on_delete=models.CASCADE, related_name="rehearsals"
    )
    backup = models.ForeignKey(
        "backups.Backup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    settings = models.JSONField(default=dict, blank=True, help_text="What it ran with.")
    pending_source = models.CharField(
        max_length=300, blank=True, help_text="How the migrations to apply were chosen."
    )
    migrations = models.JSONField(default=list, blank=True)
    assertions = models.JSONField(default=list, blank=True)
    row_counts = models.JSONField(default=list, blank=True)
    schema_diff = models.TextField(blank=True)
    rollback_ok = models.BooleanField(null=True, blank=True)
    restore_seconds = models.FloatField(null=True, blank=True)
    migrate_seconds = models.FloatField(null=True, blank=True)
    rollback_seconds = models.FloatField(null=True, blank=True)
    total_seconds = models.FloatField(null=True, blank=True)
    scratch_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    stage = models.CharField(max_length=20, blank=True, help_text="Where an error stopped it.")
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "database"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "database"], name="one_rehearsal_per_run_and_database"
            ),
        ]

    def __str__(self) -> str:
        return f"migration rehearsal #{self.pk} of {self.database_id} in run #{self.run_id}"

    @property
    def is_done(self) -> bool:
        return self.status != self.Status.RUNNING
