"""``make run``: one machine, no servers needed. SQLite and a filesystem broker under var/ unless
DATABASE_URL / REDIS_URL point at PostgreSQL and Redis."""

import os
import secrets

from core.config import (
    env_bool,
    env_database,
    env_list,
    env_redis_url,
    env_secret_key,
)

from .base import *  # noqa: F403
from .base import VAR_DIR, broker, caches, database, use_db_pool

VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str) -> str:
    """A key generated once per checkout and kept in var/, so sessions survive restarts and
    anchors stay verifiable; `make clean` removes it with the database."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _secret(variable: str, generated: str) -> str:
    if os.environ.get(variable) or os.environ.get(f"{variable}_FILE"):
        return env_secret_key(variable)
    return _local_secret(generated)


DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = _secret("SECRET_KEY", "secret-key")
PREFLIGHT_AUDIT_ANCHOR_KEY = _secret("PREFLIGHT_AUDIT_ANCHOR_KEY", "audit-anchor-key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

PREFLIGHT_WEBHOOK_KEY = PREFLIGHT_WEBHOOK_KEY or SECRET_KEY  # noqa: F405

DATABASES = {
    "default": database(
        env_database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'preflight.sqlite3'}"),
        pool=use_db_pool(),
    )
}

REDIS_URL = env_redis_url("REDIS_URL", default=None)
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker(REDIS_URL, VAR_DIR)

# WhiteNoise serves static files here as in production, but straight from the source folders
# (unhashed names, re-read on change while DEBUG): production collects them at build time.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = caches(REDIS_URL)
