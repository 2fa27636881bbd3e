from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .environments import Environment
from .projects import ApiToken, Project

VERSION_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$",
    "Use letters, digits, dots, hyphens, underscores and plus signs, e.g. 1.4.2 or 2026.11-rc1.",
)
GIT_SHA_VALIDATOR = RegexValidator(
    r"^[0-9a-f]{7,64}$", "Give the commit as 7 to 64 hexadecimal characters."
)


class Release(models.Model):
    """A version of a project. ``created_by`` is the person who registered it: the four-eyes rule
    keeps that person from approving it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=100, validators=[VERSION_VALIDATOR])
    git_sha = models.CharField(max_length=64, validators=[GIT_SHA_VALIDATOR])
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="releases_created",
    )
    created_by_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "version"], name="release_version_per_project"
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"], name="release_project_recent")]

    def __str__(self) -> str:
        return f"{self.project.slug} {self.version}"


class Decision(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"


class Approval(models.Model):
    """One person's decision on a release for an environment. Rows are never edited: a new
    decision is a new row, and a person's latest one counts."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="approvals")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals"
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comment = models.TextField(blank=True)
    run = models.ForeignKey(
        "checks.ReadinessRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The readiness run the approver saw; the approval goes stale if a later run is worse.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision="approve") | ~Q(comment=""),
                name="rejection_has_a_comment",
            ),
        ]
        indexes = [
            models.Index(fields=["release", "environment", "-created_at"], name="approval_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision}s {self.release} for {self.environment.slug}"
