"""The test suite: real PostgreSQL and Redis, started by ``make test`` (scripts/throwaway.py) or
named by DATABASE_URL / REDIS_URL."""

from core.config import env_database, env_redis_url

from .base import *  # noqa: F403
from .base import VAR_DIR, broker, caches, database

DEBUG = False
SECRET_KEY = "test-only-" + "x" * 50
# Each test gets its own anchor store and key (tests/conftest.py); this is only the fallback.
PREFLIGHT_AUDIT_ANCHOR_KEY = "test-only-anchor-" + "y" * 50
ALLOWED_HOSTS = ["*"]

PREFLIGHT_WEBHOOK_KEY = PREFLIGHT_WEBHOOK_KEY or SECRET_KEY  # noqa: F405

DATABASES = {
    "default": database(
        env_database("DATABASE_URL", schemes=("postgres", "postgresql")),
        # The live-server tests share connections across threads; a pool per test run only
        # slows the suite and hides leaks.
        pool=False,
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
REDIS_URL = env_redis_url("REDIS_URL")
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = broker(REDIS_URL, VAR_DIR)
CACHES = caches(REDIS_URL)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Static files come straight from the app folders; nothing is collected for a test run.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
