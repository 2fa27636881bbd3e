"""Where the processes of one server keep their metrics, so one scrape sees all of them.

gunicorn's workers and a prefork Celery worker's children are separate processes; each counts
in its own memory-mapped files under PROMETHEUS_MULTIPROC_DIR and a scrape adds them up
(prometheus-client's multiprocess mode). prometheus-client reads the variable when it is first
imported, so ``use`` runs before anything imports it: in gunicorn.conf.py for the web
server, at the top of preflight/celery.py for a worker. This module imports nothing but the
standard library for that reason.

The web server and the worker keep separate folders (``<var>/prometheus/web`` and ``…/worker``):
each empties its own at start, and a worker's counts are scraped from its own port, never twice.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def default_dir(role: str) -> Path:
    base = os.environ.get("PREFLIGHT_VAR_DIR") or str(Path(__file__).resolve().parents[2] / "var")
    return Path(base) / "prometheus" / role


def use(role: str) -> Path:
    """Set PROMETHEUS_MULTIPROC_DIR for this process and its children, unless the operator set
    it, and make sure the folder exists."""
    path = Path(os.environ.get(VARIABLE) or default_dir(role))
    path.mkdir(parents=True, exist_ok=True)
    os.environ[VARIABLE] = str(path)
    return path


def clean() -> None:
    """Empty the folder, once per start of the server: counts of a previous start belong to
    processes that are gone, and a pid reused by a new process would otherwise carry them on."""
    for stale in Path(os.environ[VARIABLE]).glob("*.db"):
        stale.unlink(missing_ok=True)


def prepare(role: str) -> Path:
    path = use(role)
    clean()
    return path


def enabled() -> bool:
    return bool(os.environ.get(VARIABLE))


def mark_dead(pid: int) -> None:
    """A process ended: its live gauges stop counting (its counters stay in the sums)."""
    if not enabled():
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
