"""The counters and histograms Preflight keeps, and the one place each is changed.

Counted where the thing happens: requests and gate answers in the web process, runs, check
evaluations, webhook deliveries and task outcomes in the Celery worker (scraped from its own
port). What is a state rather than an event (backup age, queue depth, the audit chain's last
verification) is read at scrape time instead (``collector.py``). docs/operations.md lists every
family.

Labels take values from small fixed sets only: route names (never paths), HTTP methods and
status codes, check kinds, statuses, task names. Never an id, a slug a user typed, or a version.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

# The *_created series double every family for what Prometheus infers from resets anyway (and
# multiprocess mode never exports them, so the web server and make run would differ).
disable_created_metrics()

# Seconds; from a cached gate answer (about a millisecond) to a slow page.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds; a run takes as long as its slowest check (PREFLIGHT_CHECK_TIMEOUT_SECONDS, 30 s).
RUN_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
CHECK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

http_requests = Counter(
    "preflight_http_requests",
    "HTTP requests answered, by route name, method and status code.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "preflight_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name and method.",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
)
gate_answers = Counter(
    "preflight_gate_answers",
    "Answers of the gate endpoint: allowed, or closed (at least one rule fails).",
    ["outcome"],
)
readiness_runs = Counter(
    "preflight_readiness_runs",
    "Readiness and verification runs that ended, by kind and status (finished or error).",
    ["kind", "status"],
)
readiness_run_duration = Histogram(
    "preflight_readiness_run_duration_seconds",
    "From a run's start (its first attempt) to its end, by kind and status.",
    ["kind", "status"],
    buckets=RUN_BUCKETS,
)
check_evaluations = Counter(
    "preflight_check_evaluations",
    "Checks evaluated by runs, by check kind and result status.",
    ["kind", "status"],
)
check_evaluation_duration = Histogram(
    "preflight_check_evaluation_duration_seconds",
    "Time one check took to evaluate, by check kind.",
    ["kind"],
    buckets=CHECK_BUCKETS,
)
webhook_deliveries = Counter(
    "preflight_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered, retrying (failed, will be retried) or "
    "failed (failed for the last time).",
    ["outcome"],
)
celery_tasks = Counter(
    "preflight_celery_tasks",
    "Celery tasks that ended, by task name and outcome: succeeded, retried or failed.",
    ["task", "outcome"],
)


def request_answered(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    http_requests.labels(route=route, method=method, status=str(status)).inc()
    http_request_duration.labels(route=route, method=method).observe(seconds)


def gate_answered(*, allowed: bool) -> None:
    gate_answers.labels(outcome="allowed" if allowed else "closed").inc()


def run_ended(*, kind: str, status: str, seconds: float | None) -> None:
    readiness_runs.labels(kind=kind, status=status).inc()
    if seconds is not None:
        readiness_run_duration.labels(kind=kind, status=status).observe(max(seconds, 0.0))


def check_evaluated(*, kind: str, status: str, seconds: float) -> None:
    check_evaluations.labels(kind=kind, status=status).inc()
    check_evaluation_duration.labels(kind=kind).observe(seconds)


def webhook_attempted(*, delivered: bool, final: bool) -> None:
    outcome = "delivered" if delivered else "failed" if final else "retrying"
    webhook_deliveries.labels(outcome=outcome).inc()


def task_ended(*, task: str, outcome: str) -> None:
    celery_tasks.labels(task=task, outcome=outcome).inc()
