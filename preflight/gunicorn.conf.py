"""gunicorn settings for the production image (docker-compose.yml's web service)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threads serve the I/O-bound requests; the psycopg pool (max 8) is shared by a worker's threads.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
# The request id is in Preflight's own log lines; the access log keeps its default shape.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
