from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SLUG_REGEX = r"^[a-z0-9][a-z0-9-]{0,62}$"
SLUG_PATTERN = re.compile(SLUG_REGEX)
SLUG_VALIDATOR = RegexValidator(
    SLUG_REGEX,
    "Use lowercase letters, digits and hyphens, starting with a letter or digit.",
)


class Project(models.Model):
    """A system under release management, e.g. ``liquor-pos``."""

    slug = models.CharField(max_length=63, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The catalog's ``repository:`` block (url, credentials_env, default_branch, tag_pattern),
    # validated by the catalog import; empty when the project names no repository. It names the
    # variable holding a credential, never the credential.
    repository = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    """A member's role in a project. Each includes what the roles before it may do; what each may
    do is spelled out in ``releases.access``."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    APPROVER = "approver"
    ADMIN = "admin"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user"),
        ]
        ordering = ["project", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} in {self.project}"


class ApiToken(models.Model):
    """A bearer token for the API. A user token acts as its user, with the user's role in each
    project; a service token belongs to one project and has the ``ci`` role there.

    Only the sha256 of the token is stored: the token itself is shown once, when issued. Tokens
    are 256-bit random values, so a fast hash is as safe as a slow one and keeps lookups cheap."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="service_tokens"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, project__isnull=True)
                    | Q(user__isnull=True, project__isnull=False)
                ),
                name="token_is_for_a_user_or_a_project_service",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_service(self) -> bool:
        return self.project_id is not None

    def is_active(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
