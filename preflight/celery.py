import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preflight.settings.local")

if os.path.basename(sys.argv[0]) == "celery":
    # The worker runs tasks in threads and must not share a psycopg pool with Celery's Django
    # fixup, which closes connections after every task; persistent connections serve it better.
    os.environ.setdefault("PREFLIGHT_DB_POOL", "0")
    from preflight.startup import load_settings

    load_settings()

app = Celery("preflight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
