from celery import shared_task

from .relay import messages_purge, messages_sweep


@shared_task(name="preflight.outbox.tasks.sweep")
def sweep() -> int:
    """The beat's sweep of the outbox, for workers whose pool forks (prefork), where the
    worker's own sweep thread does not run (core/outbox/worker.py)."""
    sent = messages_sweep().sent
    messages_purge()
    return sent
