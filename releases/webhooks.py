"""Outgoing webhooks: events go out as JSON POSTs signed with HMAC-SHA256, sent by Celery after
the change that caused them commits, retried with backoff, and logged per delivery.

Signature: ``X-Preflight-Signature: sha256=<hex>`` = HMAC-SHA256(secret, raw body). Receivers
verify it with the secret shown when the webhook was created."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .models import EVENTS, Project, Webhook, WebhookDelivery

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 8


def signing_secret(webhook: Webhook) -> str:
    key = settings.PREFLIGHT_WEBHOOK_KEY.encode()
    return hmac.new(
        key, f"webhook:{webhook.pk}:{webhook.salt}".encode(), hashlib.sha256
    ).hexdigest()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def emit(*, project: Project | int, event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Queue ``event`` for every webhook of the project that wants it. Call inside the
    transaction making the change: deliveries are written with it and sent after it commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    project_id = project if isinstance(project, int) else project.pk
    webhooks = [
        w for w in Webhook.objects.filter(project_id=project_id, is_active=True) if w.wants(event)
    ]
    if not webhooks:
        return []
    slug = Project.objects.filter(pk=project_id).values_list("slug", flat=True).first()
    payload = json.loads(
        json.dumps(
            {"event": event, "project": slug, "occurred_at": timezone.now(), "data": data},
            cls=DjangoJSONEncoder,
        )
    )
    deliveries = [
        WebhookDelivery.objects.create(webhook=w, event=event, payload=payload) for w in webhooks
    ]
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return deliveries


def _enqueue(ids: list[int]) -> None:
    from .tasks import deliver_webhook

    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)


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
    text = f"*Preflight* · {payload.get('project')} · `{event}`"
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
            "X-Preflight-Delivery": str(delivery.pk),
            "X-Preflight-Signature": sign(signing_secret(delivery.webhook), body),
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
    transaction.on_commit(lambda: _enqueue([delivery.pk]))
    delivery.refresh_from_db()
    return delivery
