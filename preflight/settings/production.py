"""Production: every secret and address comes from the environment, and nothing has a default
that would be unsafe. ``manage.py check --deploy`` is clean with these settings."""

from core.config import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_secret_key,
)

from .base import *  # noqa: F403
from .base import LOG_LEVEL, VAR_DIR, broker, caches, database, log_format, use_db_pool

DEBUG = False
# One JSON object per line, for a log collector.
LOGGING = logging_config(log_format("json"), LOG_LEVEL)  # noqa: F405
SECRET_KEY = env_secret_key("SECRET_KEY")
# Signs the audit chain's anchors; kept out of the database so its owner cannot forge them.
PREFLIGHT_AUDIT_ANCHOR_KEY = env_secret_key("PREFLIGHT_AUDIT_ANCHOR_KEY")
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", expect="the host names Preflight answers to, comma-separated"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

PREFLIGHT_WEBHOOK_KEY = PREFLIGHT_WEBHOOK_KEY or SECRET_KEY  # noqa: F405

DATABASES = {
    "default": database(
        env_database("DATABASE_URL", schemes=("postgres", "postgresql")), pool=use_db_pool()
    )
}
REDIS_URL = env_redis_url("REDIS_URL")
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker(REDIS_URL, VAR_DIR)
CACHES = caches(REDIS_URL)

# TLS ends at a reverse proxy in most deployments; it must set X-Forwarded-Proto.
if env_bool("PREFLIGHT_BEHIND_TLS_PROXY", default=True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
# Health probes and metric scrapes come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
