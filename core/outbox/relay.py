"""Queueing side effects in the database and relaying them to the broker.

A service that causes a side effect calls ``task_queue`` inside its transaction: the message is a
row written with the change, so the two commit or roll back together, whatever the broker is
doing. Once the transaction commits, the committing process tries at once (``relay``): it sends
the message to the broker or, for a message run ``here``, runs the task itself. When that fails
— Redis is down, the process died, the database went away between the commit and the attempt —
the row stays, and the worker's sweep (``messages_sweep``, every PREFLIGHT_OUTBOX_SWEEP_SECONDS,
core/outbox/worker.py) sends it as soon as the broker takes messages again.

A message is *sent* when the broker took it and *done* when a worker ran the task to its end (or
handed it to Celery's own retry). A sent message that is not done within
PREFLIGHT_OUTBOX_RESEND_SECONDS (doubling each time) is sent again: a Redis that restarted empty
lost it, or its task failed on something outside it (a database restart). Tasks are safe to run
twice, so a message sent twice costs a little work and nothing else.

Claims are compare-and-swap updates on the row (``claimed_until``), never held row locks, so the
relay takes no part in the lock order (core/locking.py) and works the same on SQLite."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Message

log = logging.getLogger(__name__)

# The Celery header naming the message a task was sent for (read by core/outbox/worker.py).
HEADER = "preflight_outbox"
# How long a relay may take to send or run one message before another may take it over.
LEASE = timedelta(seconds=60)
# The sweep leaves a message this young to the process that committed it.
GRACE = timedelta(seconds=2)
# One retry: the first publish after a Redis restart finds the pooled connection dead.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# After a failed publish, this process leaves sending to the sweep for a while, so a broker
# that hangs does not slow every request down by its timeout.
REST_SECONDS = 5.0
# A message sent this many times without being done is given up on (and logged as an error).
MAX_SENDS = 8


def task_queue(
    task: str, *args: Any, here: bool = False, due_in: timedelta | None = None
) -> Message:
    """Queue the Celery task named ``task`` with ``args`` (JSON), in the current transaction.

    ``here``: run it in this process right after the commit (an in-process side effect such as
    starting the post-deploy verification), and in a worker only if that did not happen.
    ``due_in``: not before then (the sweep sends it)."""
    return tasks_queue(task, [list(args)], here=here, due_in=due_in)[0]


def tasks_queue(
    task: str,
    arg_lists: Iterable[Sequence[Any]],
    *,
    here: bool = False,
    due_in: timedelta | None = None,
) -> list[Message]:
    """Queue one message per argument list; one attempt after the commit sends them all."""
    now = timezone.now()
    messages = Message.objects.bulk_create(
        Message(
            task=task,
            args=list(args),
            here=here,
            created_at=now,
            due_at=now + (due_in or timedelta()),
        )
        for args in arg_lists
    )
    if messages and due_in is None:
        transaction.on_commit(partial(_after_commit, [m.pk for m in messages]))
    return messages


def _after_commit(ids: list[int]) -> None:
    """The committing process's attempt. It never raises: the change has committed and its
    answer must not turn into an error; what fails here is the sweep's to send."""
    try:
        relay(ids)
    except Exception:
        log.warning("outbox messages %s left for the sweep", ids, exc_info=True)


def relay(ids: Sequence[int]) -> None:
    """Send (or run here) the named messages that are still open."""
    for message in Message.objects.filter(pk__in=ids, done_at__isnull=True).order_by("pk"):
        if message.here:
            _run_here(message)
        elif not _resting():
            _publish(message)


_rest_lock = threading.Lock()
_resting_until = 0.0


def _resting() -> bool:
    return time.monotonic() < _resting_until


def _rest() -> None:
    global _resting_until
    with _rest_lock:
        _resting_until = time.monotonic() + REST_SECONDS


def _claim(message: Message, now: datetime) -> bool:
    """Take the message for LEASE, if it is as we read it and nobody else has it."""
    return bool(
        Message.objects.filter(pk=message.pk, done_at__isnull=True, sent_at=message.sent_at)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE)
    )


def _failed(message: Message, exc: BaseException) -> None:
    Message.objects.filter(pk=message.pk).update(
        claimed_until=None,
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
    )


def _publish(message: Message, *, quiet: bool = False) -> bool:
    """Hand the message to the broker. False when the broker refused it (logged unless
    ``quiet``: the sweep logs an outage once)."""
    if not _claim(message, timezone.now()):
        return True  # another relay has it, or sent it meanwhile
    try:
        # The project's Celery app (preflight/celery.py sets itself as the current one): the
        # outbox is below the project package and only names tasks.
        current_app.send_task(
            message.task,
            args=message.args,
            headers={HEADER: message.pk},
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
    except Exception as exc:
        _rest()
        _failed(message, exc)
        (log.debug if quiet else log.warning)(
            "broker unavailable: %s left in the outbox (%s)", message, exc
        )
        return False
    Message.objects.filter(pk=message.pk).update(
        claimed_until=None, sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )
    return True


def _run_here(message: Message) -> None:
    if not _claim(message, timezone.now()):
        return
    try:
        task_function(message.task)(*message.args)
    except Exception as exc:
        _failed(message, exc)
        log.warning("%s failed here; a worker will run it", message, exc_info=True)
        return
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        claimed_until=None, sent_at=now, done_at=now, attempts=F("attempts") + 1, last_error=""
    )


def task_function(name: str) -> Any:
    """The Celery task named ``name`` ("app.tasks.function"), importing its module if needed."""
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


def message_done(message_id: int) -> None:
    """A worker ran the message's task to its end."""
    Message.objects.filter(pk=message_id, done_at__isnull=True).update(done_at=timezone.now())


@dataclass(frozen=True)
class Sweep:
    sent: int
    # Why sending stopped early (the broker is unavailable), else "".
    error: str = ""


def _resend_after(attempts: int) -> timedelta:
    return timedelta(seconds=settings.PREFLIGHT_OUTBOX_RESEND_SECONDS * 2 ** max(attempts - 1, 0))


def messages_sweep(now: datetime | None = None, limit: int = 500) -> Sweep:
    """Send what is due and unsent, and again what was sent long ago and never done. Stops at
    the first message the broker refuses (it is down: the next sweep tries again)."""
    now = now or timezone.now()
    resend_from = now - timedelta(seconds=settings.PREFLIGHT_OUTBOX_RESEND_SECONDS)
    candidates = (
        Message.objects.filter(done_at__isnull=True, due_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(sent_at__isnull=True, created_at__lte=now - GRACE) | Q(sent_at__lte=resend_from))
        .order_by("due_at", "pk")[:limit]
    )
    sent = 0
    for message in candidates:
        if message.sent_at is not None:
            if message.sent_at + _resend_after(message.attempts) > now:
                continue
            if message.attempts >= MAX_SENDS:
                log.error(
                    "%s was sent %d times and never done; given up", message, message.attempts
                )
                Message.objects.filter(pk=message.pk).update(
                    done_at=now, last_error=f"Given up after {message.attempts} sends."
                )
                continue
        if not _publish(message, quiet=True):
            return Sweep(
                sent, Message.objects.get(pk=message.pk).last_error or "broker unavailable"
            )
        sent += 1
    return Sweep(sent)


def messages_purge(now: datetime | None = None) -> int:
    """Forget done messages older than PREFLIGHT_OUTBOX_KEEP_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.PREFLIGHT_OUTBOX_KEEP_DAYS)
    deleted, _ = Message.objects.filter(done_at__lt=cutoff).delete()
    return deleted
