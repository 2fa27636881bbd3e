"""A project with a git repository, run by a real Celery worker (a subprocess, as the Procfile
starts it): the worker fetches the release's commit into the cache and judges its tree."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings

from audit.actors import Actor
from checks.catalog import import_catalog
from checks.models import ReadinessRun
from checks.services.runs import run_start
from preflight.celery import app as celery_app

from ..conftest import as_actor
from ..factories import ReleaseFactory
from .conftest import subprocess_env
from .git_repos import Origin

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CELERY = str(Path(sys.executable).with_name("celery"))
OPERATOR = Actor.of_system("test")
CATALOG = {
    "version": 1,
    "repository": {"url": "pos.git"},
    "categories": [{"key": "deploy", "name": "Deployment", "weight": 100}],
    "checks": [
        {
            "code": f"DS-00{n}",
            "title": title,
            "category": "deploy",
            "severity": "high",
            "kind": "repository",
            "config": config,
        }
        for n, (title, config) in enumerate(
            [
                ("No fixed sleeps", {"rule": "no_fixed_sleeps"}),
                ("Deploy script exists", {"rule": "file_exists", "files": ["deploy.sh"]}),
                ("Released code is on main", {"rule": "on_branch"}),
            ],
            start=1,
        )
    ],
}


@pytest.fixture
def cache_and_repos(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "repos"
    root.mkdir()
    settings.PREFLIGHT_REPOSITORY_ROOT = root
    settings.PREFLIGHT_GIT_CACHE_DIR = tmp_path / "git-cache"
    return root


@pytest.fixture
def worker(cache_and_repos, tmp_path) -> Iterator[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    redis.Redis.from_url(settings.REDIS_URL).delete("celery")  # messages other tests left queued
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [
            CELERY, "-A", "preflight", "worker", "--pool=threads", "--concurrency=4",
            "-n", f"git-{uuid.uuid4().hex[:8]}@localhost", "--without-mingle", "--without-gossip",
        ],
        env=subprocess_env(
            PREFLIGHT_REPOSITORY_ROOT=str(settings.PREFLIGHT_REPOSITORY_ROOT),
            PREFLIGHT_GIT_CACHE_DIR=str(settings.PREFLIGHT_GIT_CACHE_DIR),
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )  # fmt: skip
    yield process
    # The run is seen finished before the worker is done with it (announcements after commit):
    # stop it only once it is idle, so the test database is not flushed under a task.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        active = celery_app.control.inspect(timeout=0.5).active() or {}
        if not any(active.values()):
            break
        time.sleep(0.1)
    process.kill()
    process.wait()
    log.close()


def finished(run: ReadinessRun, seconds: float = 90) -> ReadinessRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in ("finished", "error"):
            return run
        time.sleep(0.05)
    pytest.fail(f"run {run.pk} still {run.status} after {seconds} s")


def test_a_worker_judges_each_release_commit(
    worker, cache_and_repos, project, environments, deployer
):
    import_catalog(
        actor=OPERATOR, project=project, text=yaml.safe_dump(CATALOG), check_access=False
    )
    origin = Origin(cache_and_repos)
    first = origin.commit({"deploy.sh": "#!/bin/sh\nsleep 30\n"})
    fix = origin.commit({"deploy.sh": "#!/bin/sh\nuntil curl -fs localhost; do sleep 1; done\n"})
    statuses = {}
    for version, sha in (("1.0.0", first), ("1.0.1", fix)):
        release = ReleaseFactory(project=project, version=version, git_sha=sha, created_by=deployer)
        run, _ = run_start(
            actor=as_actor(deployer), release=release, environment=environments["staging"]
        )
        run = finished(run)
        assert run.status == "finished", run.error
        statuses[version] = dict(run.results.values_list("check_item__code", "status"))
        details = dict(run.results.values_list("check_item__code", "detail"))
        if version == "1.0.0":
            assert "deploy.sh:2: sleep 30" in details["DS-001"]
    assert statuses == {
        "1.0.0": {"DS-001": "fail", "DS-002": "pass", "DS-003": "pass"},
        "1.0.1": {"DS-001": "pass", "DS-002": "pass", "DS-003": "pass"},
    }
    # The worker's fetches went into the cache the settings name.
    assert list(Path(settings.PREFLIGHT_GIT_CACHE_DIR).glob("shop-*/trees/*/deploy.sh"))
