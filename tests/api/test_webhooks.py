"""Outgoing webhooks as a receiver sees them: a local HTTP server in a thread receives signed
deliveries, fails some on purpose, and is redelivered to by hand from the admin."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from checks.services.runs import run_execute
from releases.models import Webhook, WebhookDelivery
from releases.tasks import deliver_webhook
from releases.webhooks import MAX_ATTEMPTS, DeliveryFailed, deliver, signing_secret

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
                receiver.received.append((dict(self.headers), body))
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


def test_a_delivery_is_signed_with_hmac_sha256_of_the_body(
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
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Preflight-Signature"], expected)
    assert headers["X-Preflight-Event"] == "release.created"
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["event"] == "release.created"
    assert payload["project"] == "shop"
    assert payload["data"]["version"] == "2.0.0"
    # A body altered on the way no longer matches.
    forged = hmac.new(secret.encode(), body + b" ", hashlib.sha256).hexdigest()
    assert headers["X-Preflight-Signature"] != "sha256=" + forged


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
    # The same delivery each time: receivers de-duplicate on it.
    assert {h["X-Preflight-Delivery"] for h, _ in receiver.received} == {str(delivery.pk)}


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
    # The delivery task goes out once the admin's change commits.
    assert any("redeliver" in getattr(c, "__qualname__", "") for c in queued)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(receiver.received) == 1


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
    assert (
        signing_secret(hook)
        not in admin_client.get(f"/admin/releases/webhook/{hook.pk}/change/").content.decode()
    )
