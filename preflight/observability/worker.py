"""The Celery worker's side: task outcomes counted, its metrics port, dead children marked.

Connected by preflight/celery.py in every process that loads the Celery app; the counters only
move where tasks run. The port opens only in a worker started with PREFLIGHT_WORKER_METRICS_PORT.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import (
    task_failure,
    task_retry,
    task_success,
    worker_process_shutdown,
    worker_ready,
)

from core import metrics

from . import multiproc

log = logging.getLogger(__name__)


def _name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or "unknown")


@task_success.connect
def _succeeded(sender: Any = None, **_: Any) -> None:
    metrics.task_ended(task=_name(sender), outcome="succeeded")


@task_retry.connect
def _retried(sender: Any = None, **_: Any) -> None:
    metrics.task_ended(task=_name(sender), outcome="retried")


@task_failure.connect
def _failed(sender: Any = None, **_: Any) -> None:
    metrics.task_ended(task=_name(sender), outcome="failed")


@worker_ready.connect
def _serve(**_: Any) -> None:
    from django.conf import settings

    port = settings.PREFLIGHT_WORKER_METRICS_PORT
    if not port:
        return
    from .exposition import serve_worker_metrics

    try:
        serve_worker_metrics(
            settings.PREFLIGHT_WORKER_METRICS_ADDRESS, port, settings.PREFLIGHT_METRICS_TOKEN
        )
    except OSError as exc:
        # The worker's job is tasks; a taken port must not stop it, but it must be seen.
        log.error("worker metrics not served on port %s: %s", port, exc)


@worker_process_shutdown.connect
def _child_ended(**_: Any) -> None:
    multiproc.mark_dead(os.getpid())
