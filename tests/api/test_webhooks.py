"""Outgoing webhooks as a receiver sees them: a local HTTP server in a thread receives signed
deliveries, fails some on purpose, and is redelivered to by hand from the admin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from checks.services.runs import run_execute
from core.outbox.models import Message
from releases.models import Webhook, WebhookDelivery
from releases.tasks import deliver_webhook
from releases.webhooks import (
    MAX_ATTEMPTS,
    DeliveryFailed,
    deliver,
    signature_headers,
    signing_secret,
)

from ..factories import DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


class Receiver:
    """Answers each POST with the next scripted status (200 once the script runs out)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # HTTP header names are case-insensitive; a receiver compares them lowercased.
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append((headers, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def webhook(project, receiver) -> Webhook:
    return Webhook.objects.create(project=project, name="ops", url=receiver.url)


def _deliver_all() -> None:
    for delivery in WebhookDelivery.objects.filter(status="pending").order_by("id"):
        deliver(delivery.pk)


def test_a_delivery_is_signed_by_the_standard_webhooks_specification(
    ci, webhook, receiver, project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        ci.post(
            "/api/v1/projects/shop/releases/",
            {"version": "2.0.0", "git_sha": "abcdef1"},
            format="json",
        )
    _deliver_all()
    headers, body = receiver.received[0]
    secret = signing_secret(webhook)
    assert secret.startswith("whsec_")
    # The reference verifier checks webhook-id, webhook-timestamp and webhook-signature.
    payload = StandardWebhook(secret).verify(body, headers)
    assert payload["event"] == "release.created"
    assert payload["project"] == "shop"
    assert payload["data"]["version"] == "2.0.0"
    assert headers["x-preflight-event"] == "release.created"
    assert headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert headers["webhook-id"] == f"msg_{delivery.message_id.hex}"
    # A body altered on the way, or another webhook's secret, no longer verifies.
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(secret).verify(body + b" ", headers)
    other = Webhook.objects.create(project=project, name="other", url=receiver.url)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(signing_secret(other)).verify(body, headers)


def test_a_replayed_delivery_with_an_old_timestamp_is_rejected(webhook, receiver):
    """A delivery captured on the way and sent again later: its timestamp is signed, so it
    cannot be refreshed, and the receiver's verifier refuses it once it is old."""
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="lock.changed", payload={"event": "lock.changed"}
    )
    deliver(delivery.pk)
    headers, body = receiver.received[0]
    verifier = StandardWebhook(signing_secret(webhook))
    verifier.verify(body, headers)  # fresh: accepted

    # The same delivery as it went out ten minutes ago (signed by Preflight, then captured).
    captured_at = timezone.now() - timedelta(minutes=10)
    captured = signature_headers(webhook, headers["webhook-id"], body, captured_at)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(body, captured)
    # Moving the captured timestamp forward breaks its signature.
    refreshed = {**captured, "webhook-timestamp": headers["webhook-timestamp"]}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(body, refreshed)


def test_a_failed_delivery_is_retried_until_it_succeeds(webhook, receiver, project):
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="lock.changed", payload={})
    receiver.statuses = [500, 503]
    for _ in range(2):
        with pytest.raises(DeliveryFailed):
            deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 2, 503)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 3, 200)
    assert len(receiver.received) == 3
    # The same webhook-id on every attempt: receivers de-duplicate on it.
    assert {h["webhook-id"] for h, _ in receiver.received} == {f"msg_{delivery.message_id.hex}"}


def test_a_delivery_gives_up_after_the_last_attempt(webhook, receiver):
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="lock.changed", payload={})
    receiver.statuses = [500] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(DeliveryFailed):
            deliver(delivery.pk)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", MAX_ATTEMPTS)


def test_the_task_retries_with_exponential_backoff():
    assert deliver_webhook.autoretry_for == (DeliveryFailed,)
    assert deliver_webhook.retry_backoff
    assert deliver_webhook.max_retries == MAX_ATTEMPTS


def test_an_unreachable_receiver_is_logged_as_such(project):
    hook = Webhook.objects.create(project=project, name="gone", url="http://127.0.0.1:9/hook")
    delivery = WebhookDelivery.objects.create(webhook=hook, event="lock.changed", payload={})
    with pytest.raises(DeliveryFailed):
        deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.error.startswith("unreachable")


def test_admins_see_the_delivery_log_and_redeliver_by_hand(
    admin_client, webhook, receiver, django_capture_on_commit_callbacks
):
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event="lock.changed",
        payload={"event": "lock.changed"},
        status="failed",
        attempts=8,
    )
    log = admin_client.get("/admin/releases/webhookdelivery/")
    assert log.status_code == 200
    assert "lock.changed" in log.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = admin_client.post(
            "/admin/releases/webhookdelivery/",
            {"action": "redeliver_selected", "_selected_action": [delivery.pk]},
        )
    assert answer.status_code == 302
    # The delivery task is queued in the outbox with the change, and sent once it commits.
    assert Message.objects.filter(
        task="releases.tasks.deliver_webhook", args=[delivery.pk]
    ).exists()
    assert queued
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(receiver.received) == 1
    # A redelivery is the same message: receivers that saw it already drop it.
    assert receiver.received[0][0]["webhook-id"] == f"msg_{delivery.message_id.hex}"


def test_the_api_flow_announces_every_event(
    ci, as_user, admin, approver, approver2, project, release, environments, passing_run, webhook
):
    """release.created, approval.recorded, deployment.started/finished, override.used,
    rollback.started and lock.changed come out of what CI and people do through the API;
    run.finished out of the run they start."""
    ci.post(
        "/api/v1/projects/shop/releases/", {"version": "2.0.0", "git_sha": "abcdef1"}, format="json"
    )
    as_user(approver).post(
        "/api/v1/projects/shop/releases/1.0.0/approvals/",
        {"environment": "production", "decision": "approve"},
        format="json",
    )
    broken = (
        as_user(admin)
        .post(
            "/api/v1/projects/shop/deployments/",
            {"version": "1.0.0", "environment": "production", "override_reason": "outage"},
            format="json",
        )
        .json()
    )
    ci.post(f"/api/v1/deployments/{broken['id']}/finish/", {"status": "succeeded"}, format="json")
    good = ReleaseFactory(project=project, version="0.9.0")
    DeploymentFactory(
        release=good,
        environment=environments["staging"],
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
    )
    latest = DeploymentFactory(
        release=release, environment=environments["staging"], status="in_progress"
    )
    ci.post(f"/api/v1/deployments/{latest.pk}/rollback/", {"reason": "errors"}, format="json")
    queued = ci.post(
        "/api/v1/projects/shop/releases/1.0.0/runs/", {"environment": "development"}, format="json"
    ).json()
    run_execute(queued["id"])
    events = set(WebhookDelivery.objects.values_list("event", flat=True))
    assert events >= {
        "release.created",
        "approval.recorded",
        "deployment.started",
        "override.used",
        "deployment.finished",
        "rollback.started",
        "lock.changed",
        "run.finished",
    }


def test_adding_a_webhook_in_the_admin_shows_its_secret_once(admin_client, project, receiver):
    answer = admin_client.post(
        "/admin/releases/webhook/add/",
        {
            "project": project.pk,
            "name": "ops",
            "url": receiver.url,
            "events": "[]",
            "is_active": "on",
        },
        follow=True,
    )
    hook = Webhook.objects.get()
    assert signing_secret(hook) in answer.content.decode()
    _assert_not_in_the_database(signing_secret(hook))
    assert (
        signing_secret(hook)
        not in admin_client.get(f"/admin/releases/webhook/{hook.pk}/change/").content.decode()
    )


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        StandardWebhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def _send(webhook: Webhook, receiver: Receiver) -> tuple[dict[str, str], bytes]:
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="lock.changed", payload={"event": "lock.changed"}
    )
    deliver(delivery.pk)
    return receiver.received[-1]


def _assert_not_in_the_database(*secrets: str) -> None:
    """Not in any row: the admin shows secrets in its answer, never in a session message."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            dump = "\n".join(row[0] for row in cursor.fetchall())
            for secret in secrets:
                assert secret.removeprefix("whsec_") not in dump, table
    from django.contrib.sessions.models import Session

    for session in Session.objects.all():
        for secret in secrets:
            assert secret.removeprefix("whsec_") not in str(session.get_decoded())


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    admin_client, webhook, receiver, settings
):
    settings.PREFLIGHT_WEBHOOK_ROTATION_OVERLAP_HOURS = 24
    old = signing_secret(webhook)
    answer = admin_client.post(
        "/admin/releases/webhook/",
        {"action": "rotate_secret", "_selected_action": [webhook.pk]},
    )
    webhook.refresh_from_db()
    new = signing_secret(webhook)
    assert new != old
    page = answer.content.decode()
    assert new in page  # shown once, to hand to the receiver
    assert old not in page
    assert "for 24 hours" in page
    _assert_not_in_the_database(old, new)

    headers, body = _send(webhook, receiver)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert _verifies(old, headers, body)
    assert _verifies(new, headers, body)

    # The overlap is over: the old secret no longer signs.
    Webhook.objects.filter(pk=webhook.pk).update(
        rotated_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    webhook.refresh_from_db()
    headers, body = _send(webhook, receiver)
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert _verifies(new, headers, body)
    assert not _verifies(old, headers, body)


def test_a_rotation_is_audited_and_keeps_no_secret(admin_client, webhook):
    from audit.models import AuditEvent

    old = signing_secret(webhook)
    admin_client.post(
        "/admin/releases/webhook/", {"action": "rotate_secret", "_selected_action": [webhook.pk]}
    )
    event = AuditEvent.objects.get(action="webhook.secret_rotated")
    assert (event.before, event.after["key_version"]) == ({"key_version": 1}, 2)
    webhook.refresh_from_db()
    for secret in (old, signing_secret(webhook)):
        assert secret.removeprefix("whsec_") not in str(event.after)


def test_an_admin_sees_the_current_secrets_when_asking_and_it_is_audited(admin_client, webhook):
    from audit.models import AuditEvent

    change_page = admin_client.get(f"/admin/releases/webhook/{webhook.pk}/change/")
    assert signing_secret(webhook) not in change_page.content.decode()
    answer = admin_client.post(
        "/admin/releases/webhook/",
        {"action": "show_secrets", "_selected_action": [webhook.pk]},
    )
    assert signing_secret(webhook) in answer.content.decode()
    assert "no-store" in answer.headers["Cache-Control"]
    assert AuditEvent.objects.filter(action="webhook.secrets_revealed").count() == 1
    _assert_not_in_the_database(signing_secret(webhook))


def test_the_retry_backoff_stays_below_the_brokers_visibility_timeout(settings):
    from preflight.celery import app

    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert visibility == settings.CELERY_VISIBILITY_TIMEOUT
    assert deliver_webhook.retry_backoff_max == settings.PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS
    # A delivery waiting for its retry, then running as long as any task may, is still acked
    # before Redis would hand it to a second worker.
    assert deliver_webhook.retry_backoff_max + settings.CELERY_TASK_TIME_LIMIT < visibility


def test_audit_anchors_go_only_to_webhooks_that_list_them(project, receiver):
    from audit.actors import Actor
    from audit.anchors import anchor_head
    from audit.services import record

    everything = Webhook.objects.create(project=project, name="all", url=receiver.url)
    witness = Webhook.objects.create(
        project=project, name="witness", url=receiver.url, events=["audit.anchored"]
    )
    record(actor=Actor.of_system("test"), action="thing.done")
    anchor, _ = anchor_head()
    deliveries = WebhookDelivery.objects.filter(event="audit.anchored")
    assert [d.webhook for d in deliveries] == [witness]
    assert not everything.deliveries.exists()
    _deliver_all()
    headers, body = receiver.received[0]
    payload = StandardWebhook(signing_secret(witness)).verify(body, headers)
    assert payload["event"] == "audit.anchored"
    assert payload["data"] == anchor.as_dict()


def _receivers_in_the_docs() -> list:
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = docs.split("## Webhooks", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    receivers = []
    for block in blocks:
        namespace: dict = {}
        exec(block, namespace)  # the documentation's own snippet
        receivers.append(namespace["receive"])
    return receivers


def test_the_documented_receivers_accept_a_delivery_and_refuse_a_replay(webhook, receiver):
    receivers = _receivers_in_the_docs()
    assert len(receivers) == 2  # with the library, and without it
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="lock.changed", payload={"event": "lock.changed"}
    )
    deliver(delivery.pk)
    headers, body = receiver.received[0]
    secret = signing_secret(webhook)
    old = signature_headers(
        webhook, headers["webhook-id"], body, timezone.now() - timedelta(minutes=10)
    )
    for receive in receivers:
        assert receive(secret, body, headers) == {"event": "lock.changed"}
        for bad_body, bad_headers in ((body + b" ", headers), (body, old)):
            with pytest.raises((WebhookVerificationError, ValueError)):
                receive(secret, bad_body, bad_headers)
