"""The deploy lock under a real race: 32 threads, each with its own PostgreSQL connection, start a
deployment in one environment at the same instant, 50 times over."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from audit.actors import Actor
from checks.services.deployments import deployment_finish, deployment_start
from core.errors import EnvironmentBusy
from releases.models import Deployment, Release

from ..factories import (
    CategoryFactory,
    CheckFactory,
    EnvironmentFactory,
    MembershipFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
    UserFactory,
)

THREADS = 32
TRIALS = 50


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_32_simultaneous_starts_wins_every_time():
    environment = EnvironmentFactory(required_approvals=0, min_score=Decimal(0))
    project = environment.project
    user = UserFactory(username="racer")
    MembershipFactory(project=project, user=user, role="deployer")
    release: Release = ReleaseFactory(project=project)
    check = CheckFactory(project=project, category=CategoryFactory(project=project))
    ResultFactory(
        run=RunFactory(release=release, environment=environment, score=Decimal(100)),
        check_item=check,
    )
    actor = Actor.of_user(user)
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            deployment_start(actor=actor, release=release, environment=environment)
        except EnvironmentBusy:
            return "busy"
        return "started"

    def close_connection(_: int) -> None:
        barrier.wait()  # every worker thread takes exactly one of these
        connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        try:
            for trial in range(TRIALS):
                outcomes = list(pool.map(attempt, range(THREADS)))
                assert outcomes.count("started") == 1, (
                    f"trial {trial}: {outcomes.count('started')} started"
                )
                assert outcomes.count("busy") == THREADS - 1
                running = Deployment.objects.filter(environment=environment, status="in_progress")
                assert running.count() == 1
                deployment_finish(actor=actor, deployment=running.get(), status="failed")
        finally:
            list(pool.map(close_connection, range(THREADS)))
    assert Deployment.objects.filter(environment=environment).count() == TRIALS
