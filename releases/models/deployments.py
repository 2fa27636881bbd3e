from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.errors import InvalidTransition

from .environments import Environment
from .projects import ApiToken
from .releases import Release


class Strategy(models.TextChoices):
    ROLLING = "rolling"
    BLUE_GREEN = "blue-green", "blue-green"
    CANARY = "canary"
    RECREATE = "recreate"


class DeploymentStatus(models.TextChoices):
    """in_progress → succeeded | failed; succeeded → verified | verification_failed.

    The post-deploy (smoke) checks decide between verified and verification_failed."""

    IN_PROGRESS = "in_progress", "in progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification_failed", "verification failed"


TRANSITIONS: dict[str, frozenset[str]] = {
    DeploymentStatus.IN_PROGRESS: frozenset({DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED}),
    DeploymentStatus.SUCCEEDED: frozenset(
        {DeploymentStatus.VERIFIED, DeploymentStatus.VERIFICATION_FAILED}
    ),
    DeploymentStatus.FAILED: frozenset(),
    DeploymentStatus.VERIFIED: frozenset(),
    DeploymentStatus.VERIFICATION_FAILED: frozenset(),
}
# What a rollback may return to: a release that reached the environment and was not found faulty.
GOOD_STATUSES = (DeploymentStatus.SUCCEEDED, DeploymentStatus.VERIFIED)
# Deployments that did not go through Preflight's gate and lock: break-glass overrides (past a
# closed gate, a lock or a freeze) and records written after the fact (which asked nothing). A
# rollback counts as gated: it holds the lock and goes back to a release that went well.
BYPASSED_THE_GATE = Q(recorded_after_the_fact=True) | ~Q(override_reason="")


class Deployment(models.Model):
    """A release going to an environment. Preflight does not deploy: CI (or a person) does, and
    reports start and finish here. A rollback is a deployment with ``rollback_of`` set."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="deployments")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="deployments"
    )
    strategy = models.CharField(max_length=12, choices=Strategy.choices, default=Strategy.ROLLING)
    status = models.CharField(
        max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.IN_PROGRESS
    )
    status_detail = models.TextField(blank=True)
    rollback_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rollbacks"
    )
    override_reason = models.TextField(
        blank=True, help_text="Set when an admin started it with the gate closed (break glass)."
    )
    recorded_after_the_fact = models.BooleanField(
        default=False,
        help_text="Written into the history after it happened (imported, the demo's past) instead "
        "of being started through Preflight: it never took the environment's lock or asked the gate.",
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_by_token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # The deploy lock: PostgreSQL refuses a second in-progress row for an environment,
            # however many requests race for it.
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(status="in_progress"),
                name="one_deployment_in_progress_per_environment",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "-started_at"], name="deployment_env_recent"),
            models.Index(fields=["release", "environment"], name="deployment_release_env"),
        ]

    def __str__(self) -> str:
        kind = "rollback" if self.rollback_of_id else "deployment"
        return f"{kind} #{self.pk} of {self.release.version} to {self.environment.slug}"

    @property
    def is_override(self) -> bool:
        return bool(self.override_reason)

    def transition_to(self, status: str, *, detail: str = "", at: datetime | None = None) -> None:
        """Move to ``status`` if the state machine allows it (the caller saves)."""
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(
                f"Deployment #{self.pk} is {self.get_status_display()}; it cannot become {status}.",
                status=self.status,
            )
        at = at or timezone.now()
        self.status = status
        if detail:
            self.status_detail = detail
        if status in (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED):
            self.finished_at = at
        elif status == DeploymentStatus.VERIFIED:
            self.verified_at = at
