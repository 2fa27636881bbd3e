"""Idempotency-Key on POSTs: replay, 422 for another body, 409 while in flight, keys kept for at
least 24 hours, and 50 concurrent duplicates making one record."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from releases.models import Deployment, IdempotencyKey, Release
from releases.tasks import purge_idempotency_keys

from .conftest import bearer, service_token

pytestmark = pytest.mark.django_db
RELEASES = "/api/v1/projects/shop/releases/"
BODY = {"version": "2.0.0", "git_sha": "abcdef1"}


def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(ci, project):
    first = ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201  # not 200: the first answer, replayed
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Release.objects.count() == 1
    key = IdempotencyKey.objects.get()
    assert (key.state, key.response_status, key.method) == ("done", 201, "POST")


def test_the_same_key_with_another_body_is_422(ci, project):
    ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    answer = ci.post(
        RELEASES, {**BODY, "version": "2.0.1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "idempotency_key_reused"
    assert not Release.objects.filter(version="2.0.1").exists()


def test_the_same_key_on_another_path_is_422(ci, project, release, environments):
    ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    answer = ci.post(
        f"{RELEASES}1.0.0/runs/",
        {"environment": "staging"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert answer.status_code == 422


def test_a_repeat_while_the_first_is_in_flight_is_409(ci, project):
    ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    IdempotencyKey.objects.update(state="in_flight", response_status=None, response_body="")
    answer = ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert answer.status_code == 409
    assert answer.json()["code"] == "request_in_flight"


def test_a_claim_abandoned_by_a_dead_request_is_taken_over(ci, project):
    ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    IdempotencyKey.objects.update(
        state="in_flight", created_at=timezone.now() - timedelta(minutes=10)
    )
    answer = ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert answer.status_code == 200  # ran again: the release exists already
    assert IdempotencyKey.objects.get().state == "done"


def test_error_answers_are_replayed_too(ci, project, release, environments, passing_run):
    url, body = (
        "/api/v1/projects/shop/deployments/",
        {"version": "1.0.0", "environment": "production"},
    )
    first = ci.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    assert first.status_code == 412
    environments["production"].required_approvals = 0
    environments["production"].requires_previous = False
    environments["production"].save()
    again = ci.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    assert (again.status_code, again.content) == (412, first.content)
    fresh = ci.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-2")
    assert fresh.status_code == 201
    assert Deployment.objects.count() == 1


def test_keys_belong_to_their_principal(project):
    one, two = bearer(service_token(project, "a")), bearer(service_token(project, "b"))
    one.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = two.post(
        RELEASES, {**BODY, "version": "2.0.1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert other.status_code == 201
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "ключ"])
def test_a_malformed_key_is_400(ci, project, key):
    answer = ci.post(RELEASES, BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_idempotency_key"
    assert not Release.objects.exists()


def test_posts_without_a_key_store_nothing(ci, project):
    ci.post(RELEASES, BODY, format="json")
    assert not IdempotencyKey.objects.exists()


def test_keys_are_kept_at_least_24_hours_then_purged(ci, project, settings):
    assert settings.PREFLIGHT_IDEMPOTENCY_KEEP_HOURS >= 24
    for n, age in enumerate((1, 23, settings.PREFLIGHT_IDEMPOTENCY_KEEP_HOURS + 1)):
        ci.post(
            RELEASES,
            {**BODY, "version": f"2.0.{n}"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"k-{age}",
        )
        IdempotencyKey.objects.filter(key=f"k-{age}").update(
            created_at=timezone.now() - timedelta(hours=age)
        )
    assert purge_idempotency_keys() == 1
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["k-1", "k-23"]


def _post(url: str, token: str, body: dict, key: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_duplicates_make_one_record(live_server, project):
    token = service_token(project)
    url = live_server.url + RELEASES
    barrier = threading.Barrier(50)

    def attempt(_: int) -> tuple[int, bytes]:
        barrier.wait()
        try:
            return _post(url, token, BODY, "same-key")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(attempt, range(50)))
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {201, 409}, statuses
    created = [body for status, body in answers if status == 201]
    assert created
    assert all(body == created[0] for body in created)
    assert Release.objects.filter(version="2.0.0").count() == 1
    assert IdempotencyKey.objects.count() == 1
    # Once done, every repeat replays the one answer.
    assert _post(url, token, BODY, "same-key") == (201, created[0])
