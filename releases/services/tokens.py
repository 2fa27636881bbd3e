from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking

from ..models import ApiToken, Project

TOKEN_PREFIX = "pf_"  # noqa: S105 - a prefix, not a secret
# Writing last_used_at on every request would turn each API read into a write; once a minute is
# precise enough to tell a live token from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(
    *,
    actor: Actor,
    name: str,
    user: User | None = None,
    project: Project | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a user, or a service token for a project. Returns the token row and the
    token itself, which is not stored anywhere and cannot be shown again."""
    if (user is None) == (project is None):
        raise ValidationError("A token is either for a user or for a project's service, not both.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=raw[:10],
        key_hash=hash_token(raw),
        user=user,
        project=project,
        expires_at=expires_at,
    )
    token.full_clean()
    with transaction.atomic():
        token.save()
        audit.record(
            actor=actor,
            action="token.issued",
            obj=token,
            project_id=project.pk if project else None,
            after={
                "name": name,
                "prefix": token.prefix,
                "user": user.get_username() if user else None,
                "project": project.slug if project else None,
                "expires_at": expires_at,
            },
        )
    return token, raw


def token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = locking.row(ApiToken, token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(
                actor=actor,
                action="token.revoked",
                obj=token,
                project_id=token.project_id,
                after={"revoked_at": token.revoked_at},
            )
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token ``raw`` names, or None. Notes when it was last used."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user", "project")
        .defer("user__password")  # the token may be cached (api/token_cache.py)
        .filter(key_hash=hash_token(raw))
        .first()
    )
    now = timezone.now()
    if token is None or not token.is_active(now):
        return None
    if token.user is not None and not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token_mark_used(token, now)
    return token


def token_mark_used(token: ApiToken, now: datetime) -> None:
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
