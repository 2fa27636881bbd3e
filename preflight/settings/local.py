"""``make run``: one machine, no servers needed. SQLite and a filesystem broker under var/ unless
DATABASE_URL / REDIS_URL point at PostgreSQL and Redis."""

import os
import secrets

from preflight.config import (
    env_bool,
    env_database,
    env_list,
    env_redis_url,
    env_secret_key,
)

from .base import *  # noqa: F403
from .base import VAR_DIR, broker, caches, database, use_db_pool

VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret_key() -> str:
    """A key generated once per checkout and kept in var/, so sessions survive restarts."""
    path = VAR_DIR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", default=True)
SECRET_KEY = env_secret_key("SECRET_KEY") if os.environ.get("SECRET_KEY") else _local_secret_key()
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
CACHES = caches(REDIS_URL)
