from __future__ import annotations

import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
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
# A commit a project's repository is asked for: a full SHA-1 or SHA-256 id (a short one may
# name another commit tomorrow, and cannot be fetched).
FULL_GIT_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


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


class ApprovalQuerySet(models.QuerySet["Approval"]):
    def latest_per_person(self) -> ApprovalQuerySet:
        """Only each person's newest decision per environment among these: the one that counts."""
        newest_first = Window(
            RowNumber(),
            partition_by=[F("release_id"), F("environment_id"), F("approver_id")],
            order_by=[F("created_at").desc(), F("id").desc()],
        )
        return self.annotate(newest=newest_first).filter(newest=1)


class Approval(models.Model):
    """One person's decision on a release for an environment. Rows are never edited: a new
    decision is a new row, and a person's latest one counts.

    An approval is for what its approver saw: ``run``, ``score`` and ``evidence`` (each check's
    status, by code, waivers applied) are that run's evidence when the decision was recorded.
    The gate compares them with the evidence as it stands (``checks.snapshots``)."""

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
        help_text="The readiness run the approver saw.",
    )
    score = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="The run's score when the decision was recorded.",
    )
    evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="Each check's status (by code) in the run when the decision was recorded.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = ApprovalQuerySet.as_manager()

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
