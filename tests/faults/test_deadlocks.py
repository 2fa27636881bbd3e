"""Draining a backlog at once for one project — runs finishing, CI reports, deployments starting,
finishing (and being verified) and rolled back, runs started, environments locked and
unlocked, all in parallel threads on PostgreSQL — ends without a single deadlock: every
transaction takes its locks in core/locking.py's order. PostgreSQL's own count
(pg_stat_database.deadlocks) is compared before and after, and no thread sees one."""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection

from audit.actors import Actor
from checks.models import ReadinessRun
from checks.services.deployments import deployment_finish, deployment_rollback, deployment_start
from checks.services.results import ci_result_record
from checks.services.runs import run_execute, run_start
from core.errors import PreflightError
from releases.models import Deployment
from releases.services.locks import lock_acquire, lock_release
from releases.services.tokens import token_issue

from ..conftest import as_actor
from ..factories import (
    CategoryFactory,
    CheckFactory,
    DeploymentFactory,
    EnvironmentFactory,
    ReleaseFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 12
OPERATIONS = 30  # per thread


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_a_backlog_of_runs_and_deployments_drained_at_once_never_deadlocks(
    project, deployer, admin
):
    environments = [
        EnvironmentFactory(
            project=project,
            slug=f"env-{n}",
            position=n,
            min_score=Decimal(0),
            required_approvals=0,
            requires_previous=False,
        )
        for n in range(3)
    ]
    category = CategoryFactory(project=project, key="ci", weight=100)
    checks = [
        CheckFactory(project=project, category=category, code=f"CI-{n}", kind="ci", severity="high")
        for n in range(3)
    ]
    pipeline = Actor.of_token(
        token_issue(actor=Actor.of_system("test"), name="ci", project=project)[0]
    )
    releases = [ReleaseFactory(project=project, version=f"1.{n}.0") for n in range(8)]
    for environment in environments:  # something to roll back to
        DeploymentFactory(
            release=ReleaseFactory(project=project, version=f"0.9.{environment.position}"),
            environment=environment,
            status="verified",
        )
    # The backlog: a queued run for every release in every environment.
    for release in releases:
        for environment in environments:
            for check in checks:
                ci_result_record(
                    actor=pipeline,
                    release=release,
                    environment=environment,
                    check=check,
                    status="pass",
                )
            run_start(actor=as_actor(deployer), release=release, environment=environment)
    people = {"deployer": as_actor(deployer), "admin": as_actor(admin)}

    def finish_a_run(rng: random.Random) -> None:
        queued = list(
            ReadinessRun.objects.filter(status="queued").values_list("pk", flat=True)[:20]
        )
        if queued:
            run_execute(rng.choice(queued))

    def report(rng: random.Random) -> None:
        ci_result_record(
            actor=pipeline,
            release=rng.choice(releases),
            environment=rng.choice(environments),
            check=rng.choice(checks),
            status=rng.choice(["pass", "fail"]),
        )

    def deploy(rng: random.Random) -> None:
        deployment_start(
            actor=people["deployer"],
            release=rng.choice(releases),
            environment=rng.choice(environments),
        )

    def finish(rng: random.Random) -> None:
        running = list(Deployment.objects.filter(status="in_progress").values_list("pk", flat=True))
        if running:
            deployment = Deployment.objects.get(pk=rng.choice(running))
            deployment_finish(
                actor=people["deployer"],
                deployment=deployment,
                status=rng.choice(["succeeded", "succeeded", "failed"]),
            )

    def roll_back(rng: random.Random) -> None:
        environment = rng.choice(environments)
        latest = (
            Deployment.objects.filter(environment=environment)
            .order_by("-started_at", "-id")
            .first()
        )
        if latest is not None:
            deployment_rollback(actor=people["deployer"], deployment=latest, reason="Rehearsal")

    def start_a_run(rng: random.Random) -> None:
        run_start(
            actor=people["deployer"],
            release=rng.choice(releases),
            environment=rng.choice(environments),
        )

    def lock_and_unlock(rng: random.Random) -> None:
        environment = rng.choice(environments)
        if rng.random() < 0.5:
            lock_acquire(actor=people["admin"], environment=environment, reason="Maintenance")
        else:
            lock_release(actor=people["admin"], environment=environment)

    operations = (
        [finish_a_run] * 6
        + [deploy] * 4
        + [finish] * 3
        + [report] * 3
        + [start_a_run, roll_back, lock_and_unlock]
    )
    seen: list[BaseException] = []
    done: list[str] = []
    barrier = threading.Barrier(THREADS)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait()
            for _ in range(OPERATIONS):
                operation = rng.choice(operations)
                try:
                    operation(rng)
                    done.append(operation.__name__)
                except (PreflightError, ValidationError):
                    done.append(f"{operation.__name__} refused")  # busy, closed, not the latest…
        except BaseException as exc:
            seen.append(exc)
        finally:
            connection.close()

    before = deadlocks()
    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(thread.is_alive() for thread in threads)
    time.sleep(1.5)  # PostgreSQL publishes its counters at most once a second per backend

    assert [exc for exc in seen if isinstance(exc, OperationalError)] == []
    assert seen == []
    assert deadlocks() == before
    # The backlog really was drained concurrently with deployments.
    assert done.count("finish_a_run") > 20
    assert done.count("deploy") + done.count("finish") > 10
