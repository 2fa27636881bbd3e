from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "core.outbox"
    label = "outbox"
    verbose_name = "Outbox"

    def ready(self) -> None:
        # The worker's signals (its sweep, and marking messages done) are connected in every
        # process; they only ever fire in a Celery worker.
        from . import worker  # noqa: F401
