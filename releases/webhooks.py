"""Outgoing webhooks: events go out as JSON POSTs signed by the Standard Webhooks specification,
queued in the outbox with the change that caused them and sent by Celery once it commits, retried with backoff, and logged per
delivery.

Each attempt carries ``webhook-id`` (the delivery's message id, the same on every retry),
``webhook-timestamp`` (the attempt's time, Unix seconds) and ``webhook-signature``: space-
separated ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per valid secret. Receivers
reject a timestamp more than a few minutes old, so a captured delivery cannot be replayed later.
Secrets have the spec's ``whsec_<base64>`` form and are derived, never stored (``secret_for``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from core import metrics
from core.outbox.relay import task_queue, tasks_queue

from .models import EVENTS, Project, Webhook, WebhookDelivery

log = logging.getLogger(__name__)
DELIVER_TASK = "releases.tasks.deliver_webhook"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8


SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's marker, not a secret


def secret_for(webhook: Webhook, version: int) -> str:
    """The webhook's signing secret of one key version, as ``whsec_<base64 of 32 bytes>``:
    derived from PREFLIGHT_WEBHOOK_KEY, the webhook and the version, so nothing is stored."""
    key = settings.PREFLIGHT_WEBHOOK_KEY.encode()
    raw = hmac.new(
        key, f"webhook:{webhook.pk}:{webhook.salt}:v{version}".encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def rotation_overlap() -> timedelta:
    return timedelta(hours=settings.PREFLIGHT_WEBHOOK_ROTATION_OVERLAP_HOURS)


def signing_secrets(webhook: Webhook, now: datetime | None = None) -> list[str]:
    """The secrets that sign deliveries now, newest first: two during a rotation's overlap."""
    versions = webhook.key_versions(now or timezone.now(), rotation_overlap())
    return [secret_for(webhook, version) for version in versions]


def signing_secret(webhook: Webhook) -> str:
    """The current secret, the one a receiver should be configured with."""
    return secret_for(webhook, webhook.key_version)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(raw, signed, hashlib.sha256).digest()).decode()


def signature_headers(
    webhook: Webhook, message_id: str, body: bytes, at: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers of an attempt made at ``at``."""
    timestamp = int(at.timestamp())
    signatures = [sign(s, message_id, timestamp, body) for s in signing_secrets(webhook, at)]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def message_id(delivery: WebhookDelivery) -> str:
    return f"msg_{delivery.message_id.hex}"


def emit(
    *, project: Project | int | None, event: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """Queue ``event`` for every webhook of the project that wants it (``project=None``: for
    an installation event, every webhook that lists it). Call inside the transaction making
    the change: deliveries are written with it and sent after it commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    project_id = project if isinstance(project, int) or project is None else project.pk
    candidates = Webhook.objects.filter(is_active=True)
    if project_id is not None:
        candidates = candidates.filter(project_id=project_id)
    webhooks = [w for w in candidates if w.wants(event)]
    if not webhooks:
        return []
    slug = (
        Project.objects.filter(pk=project_id).values_list("slug", flat=True).first()
        if project_id is not None
        else None
    )
    payload = json.loads(
        json.dumps(
            {"event": event, "project": slug, "occurred_at": timezone.now(), "data": data},
            cls=DjangoJSONEncoder,
        )
    )
    deliveries = [
        WebhookDelivery.objects.create(webhook=w, event=event, payload=payload) for w in webhooks
    ]
    tasks_queue(DELIVER_TASK, [[d.pk] for d in deliveries])
    return deliveries


def body_for(delivery: WebhookDelivery) -> bytes:
    payload = delivery.payload
    if delivery.webhook.slack_format:
        payload = {"text": slack_text(delivery.event, payload)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def slack_text(event: str, payload: dict[str, Any]) -> str:
    data = payload.get("data", {})
    subject = " ".join(
        str(data[key])
        for key in ("version", "environment", "status")
        if data.get(key) not in (None, "")
    )
    summary = data.get("summary") or data.get("reason") or ""
    text = f"*Preflight* · {payload.get('project') or 'every project'} · `{event}`"
    if subject:
        text += f" · {subject}"
    if summary:
        text += f"\n{summary}"
    return text


def deliver(delivery_id: int) -> WebhookDelivery | None:
    """Send one delivery once. Returns it with its new state; raises DeliveryFailed when the
    attempt failed and may be retried."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None or delivery.status == WebhookDelivery.Status.DELIVERED:
        return delivery
    body = body_for(delivery)
    request = urllib.request.Request(  # noqa: S310 - webhook URLs are http(s) URLFields
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Preflight-Webhooks/1",
            "X-Preflight-Event": delivery.event,
            **signature_headers(delivery.webhook, message_id(delivery), body, timezone.now()),
        },
    )
    status, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as answered:
        status, error = answered.code, f"answered {answered.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = f"unreachable: {getattr(exc, 'reason', exc)}"
    delivered = status is not None and 200 <= status < 300
    attempts = delivery.attempts + 1
    final = delivered or attempts >= MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts,
        response_status=status,
        error=error,
        status=(
            WebhookDelivery.Status.DELIVERED
            if delivered
            else WebhookDelivery.Status.FAILED
            if final
            else WebhookDelivery.Status.PENDING
        ),
        delivered_at=timezone.now() if delivered else None,
    )
    metrics.webhook_attempted(delivered=delivered, final=final)
    delivery.refresh_from_db()
    if not final:
        raise DeliveryFailed(error)
    return delivery


class DeliveryFailed(Exception):
    """An attempt failed; the task retries with backoff."""


def redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again by hand (from the admin or the delivery log)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, attempts=0, error=""
    )
    task_queue(DELIVER_TASK, delivery.pk)
    delivery.refresh_from_db()
    return delivery
