from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .projects import SLUG_VALIDATOR, ApiToken, Project


class Environment(models.Model):
    """Where releases go, in promotion order (``position``): development → staging → production."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="environments")
    slug = models.CharField(max_length=63, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(help_text="Promotion order: lower comes first.")
    min_score = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("80.0"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="The readiness score a release needs here (0–100).",
    )
    required_approvals = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(20)]
    )
    requires_previous = models.BooleanField(
        default=False,
        help_text="A release must have succeeded in the previous environment first.",
    )
    deploy_timeout = models.DurationField(
        default=timedelta(minutes=30),
        help_text="A deployment still in progress after this long is failed and the environment freed.",
    )
    auto_rollback = models.BooleanField(
        default=False, help_text="Roll back automatically when post-deploy verification fails."
    )
    approval_ttl = models.DurationField(
        null=True, blank=True, help_text="Approvals older than this no longer count (empty: never)."
    )

    class Meta:
        ordering = ["project", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "slug"], name="environment_slug_per_project"
            ),
            models.UniqueConstraint(
                fields=["project", "position"], name="environment_position_per_project"
            ),
            models.CheckConstraint(
                condition=Q(deploy_timeout__gt=timedelta(0)), name="deploy_timeout_positive"
            ),
            models.CheckConstraint(
                condition=Q(min_score__gte=0, min_score__lte=100), name="min_score_0_to_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug}/{self.slug}"

    def previous(self) -> Environment | None:
        return (
            Environment.objects.filter(project_id=self.project_id, position__lt=self.position)
            .order_by("-position")
            .first()
        )


class LockQuerySet(models.QuerySet["Lock"]):
    def active(self, now: datetime | None = None) -> LockQuerySet:
        now = now or timezone.now()
        return self.filter(released_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class Lock(models.Model):
    """An environment held so nothing deploys to it: by an admin, or by a rollback.

    At most one unreleased lock per environment (a database constraint). An expired lock no
    longer holds; a beat task marks it released."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="locks")
    reason = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_label = models.CharField(max_length=200)
    deployment = models.ForeignKey(
        "releases.Deployment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The rollback that took this lock, if a rollback did.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by_label = models.CharField(max_length=200, blank=True)

    objects = LockQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(released_at__isnull=True),
                name="one_unreleased_lock_per_environment",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                name="lock_expires_after_creation",
            ),
        ]

    def __str__(self) -> str:
        return f"lock on {self.environment} by {self.owner_label}"

    def is_active(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.released_at is None and (self.expires_at is None or self.expires_at > now)


class FreezeWindowQuerySet(models.QuerySet["FreezeWindow"]):
    def covering(self, moment: datetime | None = None) -> FreezeWindowQuerySet:
        moment = moment or timezone.now()
        return self.filter(starts_at__lte=moment, ends_at__gt=moment)


class FreezeWindow(models.Model):
    """A period in which nothing deploys to an environment (e.g. the holiday season)."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="freeze_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = FreezeWindowQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="freeze_ends_after_it_starts"
            ),
        ]

    def __str__(self) -> str:
        return f"freeze of {self.environment} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"

    def state(self, now: datetime | None = None) -> str:
        """upcoming, active or past: what the pipeline badges it as."""
        now = now or timezone.now()
        if now < self.starts_at:
            return "upcoming"
        if now < self.ends_at:
            return "active"
        return "past"
