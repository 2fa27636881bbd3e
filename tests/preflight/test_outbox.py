"""The outbox: a side effect is a row written with the change, sent after the commit, swept
when that failed, sent again when the broker lost it, and never more than it must."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checks.models import ReadinessRun
from checks.services.runs import run_start
from core.outbox import relay
from core.outbox.models import Message
from core.outbox.relay import messages_purge, messages_sweep, task_queue

from ..conftest import as_actor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue() -> redis.Redis:
    """The broker's default queue on the throwaway Redis, emptied first."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery")
    return client


def queued(client: redis.Redis) -> list[tuple[str, list[object], object]]:
    """(task, args, outbox message id) of each message waiting in the queue."""
    found = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        headers = message["headers"]
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append((headers["task"], args, headers.get(relay.HEADER)))
    return found


def test_a_run_started_is_queued_with_its_row_and_sent_once_it_commits(
    queue, release, environments, deployer
):
    run, _ = run_start(
        actor=as_actor(deployer), release=release, environment=environments["staging"]
    )
    message = Message.objects.get(task="checks.tasks.execute_run")
    assert message.args == [run.pk]
    assert message.sent_at is not None
    assert message.done_at is None  # until a worker ran it
    assert queued(queue) == [("checks.tasks.execute_run", [run.pk], message.pk)]


def test_a_change_that_rolls_back_leaves_no_message(queue, release, environments, deployer):
    def failing_request() -> None:
        with transaction.atomic():
            run_start(
                actor=as_actor(deployer), release=release, environment=environments["staging"]
            )
            assert Message.objects.count() == 1
            raise RuntimeError("the request failed after the service")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not Message.objects.exists()
    assert not ReadinessRun.objects.exists()
    assert queued(queue) == []


def test_the_sweep_sends_what_the_commit_could_not_and_nothing_twice(queue):
    long_ago = timezone.now() - timedelta(minutes=1)
    waiting = Message.objects.create(task="checks.tasks.reap_runs", created_at=long_ago)
    fresh = Message.objects.create(task="checks.tasks.reap_runs")  # its committer is on it
    later = Message.objects.create(
        task="checks.tasks.reap_runs",
        created_at=long_ago,
        due_at=timezone.now() + timedelta(minutes=5),
    )

    assert messages_sweep().sent == 1
    assert messages_sweep().sent == 0
    assert [m for _, _, m in queued(queue)] == [waiting.pk]
    waiting.refresh_from_db()
    assert (waiting.attempts, waiting.last_error) == (1, "")
    assert Message.objects.get(pk=fresh.pk).sent_at is None
    assert Message.objects.get(pk=later.pk).sent_at is None


def test_a_message_sent_but_never_done_is_sent_again_later_and_then_given_up(queue, settings):
    sent = Message.objects.create(task="checks.tasks.reap_runs")
    relay.relay([sent.pk])
    sent.refresh_from_db()
    assert sent.attempts == 1
    resend = timedelta(seconds=settings.PREFLIGHT_OUTBOX_RESEND_SECONDS)

    # The broker lost it (Redis restarted empty): the sweep sends it again after the wait, and
    # waits twice as long before the next time.
    queue.delete("celery")
    assert messages_sweep(now=sent.sent_at + resend / 2).sent == 0
    assert messages_sweep(now=sent.sent_at + resend + timedelta(seconds=1)).sent == 1
    sent.refresh_from_db()
    assert sent.attempts == 2
    assert messages_sweep(now=sent.sent_at + resend + timedelta(seconds=1)).sent == 0
    assert messages_sweep(now=sent.sent_at + 2 * resend + timedelta(seconds=1)).sent == 1

    Message.objects.filter(pk=sent.pk).update(attempts=relay.MAX_SENDS)
    assert messages_sweep(now=timezone.now() + timedelta(days=1)).sent == 0
    sent.refresh_from_db()
    assert sent.done_at is not None
    assert "Given up" in sent.last_error


def test_a_done_message_is_never_sent_again_and_is_forgotten_after_a_week(queue):
    message = Message.objects.create(task="checks.tasks.reap_runs")
    relay.relay([message.pk])
    relay.message_done(message.pk)
    queue.delete("celery")
    assert messages_sweep(now=timezone.now() + timedelta(days=1)).sent == 0
    assert messages_purge(now=timezone.now() + timedelta(days=6)) == 0
    assert messages_purge(now=timezone.now() + timedelta(days=8)) == 1


def test_a_claimed_message_is_left_to_its_claimant_until_the_lease_ends(queue):
    message = Message.objects.create(
        task="checks.tasks.reap_runs", created_at=timezone.now() - timedelta(minutes=1)
    )
    Message.objects.filter(pk=message.pk).update(claimed_until=timezone.now() + relay.LEASE)
    assert messages_sweep().sent == 0
    assert messages_sweep(now=timezone.now() + relay.LEASE + timedelta(seconds=1)).sent == 1


def test_a_message_run_here_that_fails_is_left_for_a_worker(queue):
    # A task that cannot run here (its deployment is gone): it stays open, for the sweep.
    message = task_queue("releases.tasks.announce_deployment_succeeded", 987654, here=True)
    message.refresh_from_db()
    assert message.done_at is None
    assert message.attempts == 1
    assert "DoesNotExist" in message.last_error
    assert queued(queue) == []
    assert messages_sweep(now=timezone.now() + timedelta(seconds=5)).sent == 1
    assert queued(queue)[0][:2] == ("releases.tasks.announce_deployment_succeeded", [987654])
