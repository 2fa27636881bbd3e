"""Settings shared by every way Preflight runs.

The modules ``local``, ``production`` and ``test`` import this one and read what differs between
them from the environment through ``core.config``; ``.env.example`` documents each variable.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils.csp import CSP

from core.config import SettingsError, env_bool, env_int, env_str
from preflight.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("PREFLIGHT_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "audit",
    "releases",
    "checks",
    "backups",
    "api",
    "demo",
    "preflight.beat",
    "core.outbox",
]

MIDDLEWARE = [
    "audit.middleware.RequestContextMiddleware",
    # Inside the request id, outside the rest: every request is counted and logged once, refused
    # ones included (preflight/observability/middleware.py).
    "preflight.observability.middleware.RequestObservabilityMiddleware",
    # Outside the request guard and WhiteNoise, so their answers carry the policy too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # The database away (a restart): 503 with Retry-After, not a traceback (core/unavailable.py).
    "core.unavailable.DatabaseUnavailableMiddleware",
    # Before anything reads the body, the path or the session: oversized and malformed requests
    # are answered here (core/limits.py).
    "core.limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.web.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.PermissionDeniedAuditMiddleware",
]

ROOT_URLCONF = "preflight.urls"
# The API's error body on API paths, the error pages elsewhere (core/error_views.py).
CSRF_FAILURE_VIEW = "core.error_views.csrf_failure"

# Request bodies larger than this are refused with 413 before anything reads them, on every
# endpoint and page; Django's own limit on what it reads into memory is the same.
PREFLIGHT_MAX_REQUEST_BYTES = env_int(
    "PREFLIGHT_MAX_REQUEST_BYTES", default=1024 * 1024, minimum=64 * 1024
)
DATA_UPLOAD_MAX_MEMORY_SIZE = PREFLIGHT_MAX_REQUEST_BYTES
WSGI_APPLICATION = "preflight.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "releases.context_processors.navigation",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# Messages live in the session so a redirect after a form post still shows them.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Every answer carries this Content-Security-Policy (docs/operations.md): scripts and styles come
# only from Preflight's own static files, so a page holds no inline <script>, <style>, style=
# attribute or event handler, and htmx never evaluates attribute text (allowEval is off in
# base.html). The API docs pages add what they need to it (api/docs.py). The browser
# posts what it refused to /csp-report (core/web/csp.py), which logs it.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "report-uri": "/csp-report",
}

# How many reverse proxies stand in front of the web process; the client's address is taken from
# X-Forwarded-For only that many hops deep, so a client cannot forge the address in the audit log.
PREFLIGHT_PROXY_COUNT = env_int("PREFLIGHT_PROXY_COUNT", default=0, minimum=0)

# Readiness runs. http checks may name {base_url}; repository checks read trees under the root.
PREFLIGHT_BASE_URL = env_str(
    "PREFLIGHT_BASE_URL",
    default=f"http://127.0.0.1:{env_int('PORT', default=8000, minimum=1)}",
    expect="the URL Preflight is reached at, e.g. https://preflight.example.com",
)
PREFLIGHT_REPOSITORY_ROOT = Path(
    env_str("PREFLIGHT_REPOSITORY_ROOT", default=str(BASE_DIR), expect="a directory")
)
# A project naming its git repository in the catalog has each release's commit fetched into a
# mirror cache here (one mirror per project, one read-only tree per commit), kept under the size
# bound by evicting what was used least recently.
PREFLIGHT_GIT_CACHE_DIR = Path(
    env_str("PREFLIGHT_GIT_CACHE_DIR", default=str(VAR_DIR / "git-cache"), expect="a directory")
)
PREFLIGHT_GIT_CACHE_MB = env_int("PREFLIGHT_GIT_CACHE_MB", default=2048, minimum=1)
# A fetch (or any git command) that has not finished after this long is stopped; git never
# prompts for anything.
PREFLIGHT_GIT_TIMEOUT_SECONDS = env_int("PREFLIGHT_GIT_TIMEOUT_SECONDS", default=120, minimum=1)
# ssh:// repositories: the known-hosts file their host keys are checked against (no file, no ssh).
PREFLIGHT_GIT_KNOWN_HOSTS = env_str("PREFLIGHT_GIT_KNOWN_HOSTS", default="", expect="a file")
# I/O-bound checks of a run go through a thread pool this wide; each check has its own time limit.
PREFLIGHT_CHECK_CONCURRENCY = env_int("PREFLIGHT_CHECK_CONCURRENCY", default=50, minimum=1)
PREFLIGHT_CHECK_TIMEOUT_SECONDS = env_int("PREFLIGHT_CHECK_TIMEOUT_SECONDS", default=30, minimum=1)

# Webhook signing secrets are derived from this key and never stored (releases/webhooks.py).
# Defaults to SECRET_KEY in each settings module; changing it changes every webhook's secret.
PREFLIGHT_WEBHOOK_KEY = env_str("PREFLIGHT_WEBHOOK_KEY", default="")
# After a webhook's secret is rotated, deliveries carry signatures by the old and the new secret
# this long, so its receiver can switch without missing one.
PREFLIGHT_WEBHOOK_ROTATION_OVERLAP_HOURS = env_int(
    "PREFLIGHT_WEBHOOK_ROTATION_OVERLAP_HOURS", default=24, minimum=0
)
# A failed delivery is retried with exponential backoff up to this many seconds between
# attempts; it must stay below the broker's visibility timeout (checked below).
PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS = env_int(
    "PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS", default=10 * 60, minimum=10
)
# The delivery log keeps records this many days; a beat task deletes older ones.
PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS = env_int(
    "PREFLIGHT_WEBHOOK_DELIVERY_KEEP_DAYS", default=30, minimum=1
)

# The outbox (core/outbox): side effects are rows written with the change and relayed to the
# broker after commit; the worker sweeps what could not be sent this often, sends a message again
# when it was sent this long ago and never done (doubling each time), and forgets done messages
# after this many days.
PREFLIGHT_OUTBOX_SWEEP_SECONDS = env_int("PREFLIGHT_OUTBOX_SWEEP_SECONDS", default=2, minimum=0)
PREFLIGHT_OUTBOX_RESEND_SECONDS = env_int(
    "PREFLIGHT_OUTBOX_RESEND_SECONDS", default=5 * 60, minimum=1
)
PREFLIGHT_OUTBOX_KEEP_DAYS = env_int("PREFLIGHT_OUTBOX_KEEP_DAYS", default=7, minimum=1)

# The audit chain's head is anchored outside the database every 10 minutes (audit/anchors.py):
# into one store per installation, signed with PREFLIGHT_AUDIT_ANCHOR_KEY (set by each settings
# module; never in the database), and copied to an S3 bucket when one is named.
PREFLIGHT_AUDIT_ANCHOR_DIR = Path(
    env_str(
        "PREFLIGHT_AUDIT_ANCHOR_DIR", default=str(VAR_DIR / "audit-anchors"), expect="a directory"
    )
)
PREFLIGHT_AUDIT_ANCHOR_KEY = ""
PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET = env_str("PREFLIGHT_AUDIT_ANCHOR_S3_BUCKET", default="")
PREFLIGHT_AUDIT_ANCHOR_S3_PREFIX = env_str(
    "PREFLIGHT_AUDIT_ANCHOR_S3_PREFIX", default="audit-anchors"
)

# Backups Preflight takes itself (docs/backups.md). Stored under PREFLIGHT_BACKUP_DIR, or in an
# S3-compatible bucket when PREFLIGHT_BACKUP_S3_BUCKET is set (credentials: the usual AWS_*
# variables). Encrypted with AES-GCM when the variable named by PREFLIGHT_BACKUP_KEY_ENV holds a
# key; the key is read when used, never kept in settings, the database or the logs.
PREFLIGHT_BACKUP_DIR = Path(
    env_str("PREFLIGHT_BACKUP_DIR", default=str(VAR_DIR / "backups"), expect="a directory")
)
PREFLIGHT_BACKUP_S3_BUCKET = env_str("PREFLIGHT_BACKUP_S3_BUCKET", default="")
PREFLIGHT_BACKUP_S3_ENDPOINT = env_str("PREFLIGHT_BACKUP_S3_ENDPOINT", default="")
PREFLIGHT_BACKUP_S3_PREFIX = env_str("PREFLIGHT_BACKUP_S3_PREFIX", default="")
PREFLIGHT_BACKUP_KEY_ENV = env_str("PREFLIGHT_BACKUP_KEY_ENV", default="PREFLIGHT_BACKUP_KEY")
# Where drills download and decrypt backups before restoring them (default: the system's temp).
PREFLIGHT_BACKUP_WORK_DIR = env_str("PREFLIGHT_BACKUP_WORK_DIR", default="")
# pg_dump / pg_restore / psql: from this directory, else the newest installed, else PATH.
PREFLIGHT_PG_BINDIR = env_str("PREFLIGHT_PG_BINDIR", default="")
PREFLIGHT_DRILL_RESTORE_JOBS = env_int("PREFLIGHT_DRILL_RESTORE_JOBS", default=2, minimum=1)
# WAL archiving is stale when no segment was archived for this long (set archive_timeout lower).
PREFLIGHT_WAL_MAX_AGE = timedelta(
    seconds=env_int("PREFLIGHT_WAL_MAX_AGE_SECONDS", default=15 * 60, minimum=1)
)
# WAL samples older than this are pruned by the retention task.
PREFLIGHT_WAL_HISTORY_DAYS = env_int("PREFLIGHT_WAL_HISTORY_DAYS", default=30, minimum=1)

# The API (api/): JSON only, bearer tokens or a session with CSRF, one error body.
# Rates: "token" per token or session user, "anon" per address without credentials, "login"
# failed token authentications per address (past it, the address gets 429 for the period).
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.IsAuthenticatedPrincipal"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.TokenRateThrottle",
        "api.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": env_str("PREFLIGHT_API_TOKEN_RATE", default="3000/min", expect="e.g. 3000/min"),
        "anon": env_str("PREFLIGHT_API_ANON_RATE", default="60/min", expect="e.g. 60/min"),
        "login": env_str("PREFLIGHT_API_LOGIN_RATE", default="20/min", expect="e.g. 20/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "NUM_PROXIES": PREFLIGHT_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preflight API",
    "DESCRIPTION": (
        "Release readiness for CI: register releases, report checks, ask the gate, record "
        "deployments. Errors have one body: {code, detail, fields?}. See docs/api.md."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "checks.models.ReadinessRun.Status",
        "RunKindEnum": "checks.models.ReadinessRun.Kind",
        "ResultStatusEnum": "checks.models.ResultStatus",
        "ReportedStatusEnum": "checks.services.results.REPORTABLE",
        "DeploymentStatusEnum": "releases.models.DeploymentStatus",
        "FinishStatusEnum": ["succeeded", "failed"],
        "BackupKindEnum": "backups.models.Backup.Kind",
        "BackupStatusEnum": "backups.models.Backup.Status",
        "AuditOutcomeEnum": "audit.models.AuditEvent.Outcome",
    },
}
# The gate endpoint keeps answers this long at most (api/gate_cache.py); any audited
# change to the project retires them at once. 0 turns the cache off.
PREFLIGHT_GATE_CACHE_SECONDS = env_int("PREFLIGHT_GATE_CACHE_SECONDS", default=5, minimum=0)
# Answers to POSTs with an Idempotency-Key are kept this long (PRODUCT.md: at least 24 hours).
PREFLIGHT_IDEMPOTENCY_KEEP_HOURS = env_int(
    "PREFLIGHT_IDEMPOTENCY_KEEP_HOURS", default=48, minimum=24
)


def caches(redis_url: str | None) -> dict[str, Any]:
    """Throttle counters must be shared by every web process: Redis when there is one."""
    if redis_url:
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": "preflight",
            }
        }
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


LOG_LEVEL = env_str("LOG_LEVEL", default="INFO", expect="a level such as DEBUG, INFO, WARNING")


def log_format(default: str) -> str:
    value = env_str("PREFLIGHT_LOG_FORMAT", default=default, expect="json or plain").lower()
    if value not in ("json", "plain"):
        raise SettingsError(f"PREFLIGHT_LOG_FORMAT={value!r} is malformed: expected json or plain")
    return value


# Readable lines here (make run, tests); production.py switches to one JSON object per line.
LOGGING = logging_config(log_format("plain"), LOG_LEVEL)

# Metrics (docs/operations.md). /metrics answers only a scraper sending this bearer token; unset,
# the endpoint does not exist. The Celery worker serves its own on PREFLIGHT_WORKER_METRICS_PORT.
PREFLIGHT_METRICS_TOKEN = env_str("PREFLIGHT_METRICS_TOKEN", default="")
if PREFLIGHT_METRICS_TOKEN and len(PREFLIGHT_METRICS_TOKEN) < 16:
    raise SettingsError(
        "PREFLIGHT_METRICS_TOKEN is malformed: expected at least 16 random characters"
    )
# 0 (the default): the worker serves no metrics.
PREFLIGHT_WORKER_METRICS_PORT = env_int("PREFLIGHT_WORKER_METRICS_PORT", default=0, minimum=0)
PREFLIGHT_WORKER_METRICS_ADDRESS = env_str(
    "PREFLIGHT_WORKER_METRICS_ADDRESS", default="127.0.0.1", expect="an address to listen on"
)

# Errors to Sentry when SENTRY_DSN is set (off by default); secrets scrubbed before sending.
SENTRY_DSN = env_str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", default="")


def database(config: dict[str, Any], *, pool: bool) -> dict[str, Any]:
    """Complete a parsed DATABASE_URL with what Preflight needs of each engine."""
    config = dict(config)
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend plus the owner-only flush of the audit table (core/db/postgresql).
        config["ENGINE"] = "core.db.postgresql"
    options = dict(config.get("OPTIONS", {}))
    if config["ENGINE"].endswith("sqlite3"):
        # WAL lets the web process read while the worker writes; IMMEDIATE takes the write lock at
        # BEGIN so two writers queue on the busy timeout instead of failing mid-transaction.
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
    elif pool:
        # CONN_HEALTH_CHECKS makes Django give the pool psycopg's check: a connection that a
        # database restart broke is replaced when it is taken, not handed to a request. A request
        # waits at most ``timeout`` for one while the database is away, then gets a 503.
        # An attempt to reconnect waits twice as long after each failure; giving it up after
        # reconnect_timeout lets the next request start a fresh one, so a process is back within
        # seconds of the database, however long it was away.
        options["pool"] = {"min_size": 1, "max_size": 8, "timeout": 5, "reconnect_timeout": 10}
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = True
    else:
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
    config["OPTIONS"] = options
    return config


def use_db_pool() -> bool:
    """Pool connections in the web process only; the Celery worker turns it off (see celery.py)."""
    return env_bool("PREFLIGHT_DB_POOL", default=True)


# Tasks are acknowledged after they finish and redelivered if their worker dies, so every task is
# written to be safe to run twice. The broker's visibility timeout must outlast the longest task,
# or a slow task would be handed to a second worker while the first still runs it.
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_VISIBILITY_TIMEOUT = 2 * CELERY_TASK_TIME_LIMIT
# Redis hands a task waiting for its retry countdown to another worker once the visibility
# timeout passes, so a webhook's backoff plus the longest a task may run must stay below it.
if PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS + CELERY_TASK_TIME_LIMIT >= CELERY_VISIBILITY_TIMEOUT:
    raise SettingsError(
        f"PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS={PREFLIGHT_WEBHOOK_BACKOFF_MAX_SECONDS} is "
        f"malformed: expected fewer than {CELERY_VISIBILITY_TIMEOUT - CELERY_TASK_TIME_LIMIT} "
        "seconds (the broker's visibility timeout less the task time limit)"
    )


def broker(redis_url: str | None, var_dir: Path) -> tuple[str, dict[str, Any]]:
    """Redis when REDIS_URL is set, else kombu's filesystem transport (needs no server)."""
    if redis_url:
        return redis_url, {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
    folder = var_dir / "broker"
    for name in ("queue", "processed", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return "filesystem://localhost//", {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }


CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat reads its schedule from the database and keeps its state there (preflight/beat): the entries
# below, the same everywhere, plus each database's backup, drill and WAL schedules, which admins
# edit (backups.schedules). A change is picked up within PREFLIGHT_BEAT_REFRESH_SECONDS.
CELERY_BEAT_SCHEDULER = "preflight.beat.scheduler:DatabaseScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
PREFLIGHT_BEAT_REFRESH_SECONDS = env_int("PREFLIGHT_BEAT_REFRESH_SECONDS", default=5, minimum=1)
PREFLIGHT_BEAT_ENTRIES = ["backups.schedules.beat_entries"]
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "fail-timed-out-deployments": {
        "task": "releases.tasks.fail_timed_out_deployments",
        "schedule": timedelta(seconds=30),
    },
    "reap-readiness-runs": {
        "task": "checks.tasks.reap_runs",
        "schedule": timedelta(seconds=30),
    },
    "expire-locks": {
        "task": "releases.tasks.expire_locks",
        "schedule": timedelta(seconds=60),
    },
    "purge-idempotency-keys": {
        "task": "releases.tasks.purge_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
    "enforce-backup-retention": {
        "task": "backups.tasks.enforce_retention",
        "schedule": timedelta(hours=1),
    },
    "watch-backups": {
        "task": "backups.tasks.watch",
        "schedule": timedelta(minutes=5),
    },
    "anchor-audit-chain": {
        "task": "audit.tasks.anchor_chain",
        "schedule": timedelta(minutes=10),
    },
    # Reads and hashes every event; the audit log page shows the stored result.
    "verify-audit-chain": {
        "task": "audit.tasks.verify_chain",
        "schedule": timedelta(hours=1),
    },
    # Workers that fork (prefork) sweep the outbox only through this; threads sweep by themselves.
    "sweep-outbox": {
        "task": "preflight.outbox.tasks.sweep",
        "schedule": timedelta(seconds=30),
    },
    "purge-webhook-deliveries": {
        "task": "releases.tasks.purge_webhook_deliveries",
        "schedule": timedelta(hours=1),
    },
}

if SENTRY_DSN:
    from preflight.observability.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
