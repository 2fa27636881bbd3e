import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.local")

_worker = os.path.basename(sys.argv[0]) == "celery" and "worker" in sys.argv[1:]

if os.path.basename(sys.argv[0]) == "celery":
    # The worker runs tasks in threads and must not share a psycopg pool with Celery's Django
    # fixup, which closes connections after every task; persistent connections serve it better.
    os.environ.setdefault("PREFLIGHT_DB_POOL", "0")
    from preflight.startup import load_settings

    load_settings()
    if _worker:
        from django.conf import settings

        if settings.PREFLIGHT_WORKER_METRICS_PORT:
            # Before prometheus-client is first imported: a prefork worker's children count
            # into files its main process adds up (preflight/observability/multiproc.py).
            from preflight.observability import multiproc

            multiproc.prepare("worker")

# Before any broker connection: redis:// gets the transport that survives Redis going away.
from core.broker import register as register_broker_transport  # noqa: E402

register_broker_transport()

app = Celery("preflight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if _worker:
    # Task outcomes counted, the metrics port, dead children marked. Only in a worker: the web
    # server imports this module too, before it may import prometheus-client.
    from preflight.observability import worker as _observed  # noqa: F401
