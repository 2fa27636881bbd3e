"""Webhook secrets and the delivery log: rotation, revealing the current secrets, retention.

Webhooks are configured in the Django admin, whose staff permissions guard these; each change
and each time a secret is shown is an audit event."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actors import Actor
from core import locking

from ..models import Webhook, WebhookDelivery
from ..webhooks import rotation_overlap, signing_secret, signing_secrets


def webhook_rotate_secret(*, actor: Actor, webhook: Webhook) -> tuple[Webhook, str]:
    """Move the webhook to a new secret; return it with the new secret (to show once).
    Deliveries are signed with the old and the new one until the overlap ends."""
    with transaction.atomic():
        locked = locking.row(Webhook, webhook.pk)
        before = {"key_version": locked.key_version}
        locked.key_version += 1
        locked.rotated_at = timezone.now()
        locked.save(update_fields=["key_version", "rotated_at"])
        audit.record(
            actor=actor,
            action="webhook.secret_rotated",
            obj=locked,
            project_id=locked.project_id,
            before=before,
            after={
                "key_version": locked.key_version,
                "previous_valid_until": locked.rotated_at + rotation_overlap(),
            },
        )
    return locked, signing_secret(locked)


def webhook_secrets_reveal(*, actor: Actor, webhook: Webhook) -> list[str]:
    """The secrets signing the webhook's deliveries now, newest first; showing them is audited."""
    secrets = signing_secrets(webhook)
    audit.record(
        actor=actor,
        action="webhook.secrets_revealed",
        obj=webhook,
        project_id=webhook.project_id,
        after={"key_versions": webhook.key_versions(timezone.now(), rotation_overlap())},
    )
    return secrets


def webhook_deliveries_purge(*, actor: Actor, now: datetime | None = None) -> int:
    """Delete delivery records older than PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS; the count is
    audited (nothing is recorded when nothing was old enough)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS)
    with transaction.atomic():
        deleted, _ = WebhookDelivery.objects.filter(created_at__lt=cutoff).delete()
        if deleted:
            audit.record(
                actor=actor,
                action="webhook.deliveries_purged",
                after={"deleted": deleted, "older_than": cutoff},
            )
    return deleted
