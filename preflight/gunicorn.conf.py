"""gunicorn settings for the production image (docker-compose.yml's web service) and for
``make run`` (the Procfile adds ``--bind 127.0.0.1:$PORT --reload``).

Each worker process serves ``threads`` requests at once; the others wait, accepted, in the
worker's queue (gthread keeps up to ``worker_connections`` open), so a burst of requests is
answered late rather than dropped."""

import os
import sys
from pathlib import Path

# gunicorn reads this file before it puts the application's folder on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from preflight.observability import logs, multiproc

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threads serve the I/O-bound requests; the psycopg pool (max 8) is shared by a worker's threads.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
worker_connections = 1000
backlog = 2048
timeout = 60
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Each request is logged once by the application, with its request id, actor and route; gunicorn's
# own records take the same shape (JSON unless PREFLIGHT_LOG_FORMAT says plain) and its access
# log is off.
_production = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".production")
accesslog = None
logconfig_dict = logs.gunicorn_logconfig(
    os.environ.get("PREFLIGHT_LOG_FORMAT", "json" if _production else "plain").lower(),
    os.environ.get("LOG_LEVEL", "INFO").upper(),
)

# Metrics: the workers count into files of one folder that /metrics adds up. Set here, before any
# worker imports prometheus-client; emptied when the server starts (not on a reload, whose old
# workers still count).
multiproc.use("web")


def on_starting(server):
    multiproc.clean()


def child_exit(server, worker):
    """A worker ended (restarted after max_requests, killed, crashed): its live gauges go."""
    multiproc.mark_dead(worker.pid)
