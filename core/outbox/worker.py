"""The outbox's side in a Celery worker: the sweep that sends what the committing process could
not, and marking a message done once its task ran.

The sweep is a thread of the worker (pools of threads, as ``make run`` runs it, or solo): it
needs neither the broker that may be what is down nor beat. A prefork worker (production) does
not run it, since a forked child would inherit its database connection; beat sends
``preflight.outbox.tasks.sweep`` every 30 seconds instead, and it runs as soon as the broker
takes messages again."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import task_postrun, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from .relay import HEADER, message_done, messages_purge, messages_sweep

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 3600

# Celery's states in which a task is finished with its message: it returned, or Celery sent
# its own retry. A task that raised (the database was down) is sent again by the sweep.
DONE_STATES = frozenset({"SUCCESS", "RETRY"})

_stop = threading.Event()


@task_postrun.connect(dispatch_uid="outbox-message-done")
def _task_done(task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    message_id = getattr(getattr(task, "request", None), HEADER, None)
    if message_id is None or state not in DONE_STATES:
        return
    try:
        message_done(int(message_id))
    except Exception:  # the database is away: the message is sent again later, harmlessly
        log.warning("could not mark outbox message %s done", message_id, exc_info=True)


@worker_ready.connect(dispatch_uid="outbox-sweep-start")
def _start(sender: Any = None, **kwargs: Any) -> None:
    if settings.PREFLIGHT_OUTBOX_SWEEP_SECONDS <= 0:
        return
    if "prefork" in type(getattr(sender, "pool", None)).__module__:
        # A database connection in the parent would be inherited by every forked child; there
        # the beat's sweep task does the work (preflight.outbox.tasks.sweep).
        return
    _stop.clear()
    threading.Thread(target=sweep_forever, args=(_stop,), name="outbox-sweep", daemon=True).start()


@worker_shutdown.connect(dispatch_uid="outbox-sweep-stop")
def _shutdown(**kwargs: Any) -> None:
    _stop.set()


def sweep_forever(stop: threading.Event) -> None:
    """Sweep every PREFLIGHT_OUTBOX_SWEEP_SECONDS until ``stop`` is set. An outage (of the
    broker or the database) is logged once when it starts and once when it ends."""
    trouble = ""
    purged_at = 0.0
    while not stop.wait(settings.PREFLIGHT_OUTBOX_SWEEP_SECONDS):
        try:
            sweep = messages_sweep()
            problem = sweep.error
            if time.monotonic() - purged_at > PURGE_EVERY_SECONDS:
                messages_purge()
                purged_at = time.monotonic()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}".strip()
        finally:
            # A connection the database dropped is replaced on the next sweep.
            close_old_connections()
        if problem and not trouble:
            log.warning("outbox sweep: messages wait (%s)", problem.splitlines()[0])
        elif trouble and not problem:
            log.info("outbox sweep: sending again")
        trouble = problem
