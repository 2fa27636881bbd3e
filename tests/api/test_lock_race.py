"""The deploy lock over real HTTP: 32 clients POST a deployment for one environment at the same
instant against a live server on PostgreSQL; exactly one gets 201 and 31 get 409, every trial."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from releases.models import Deployment

from ..factories import (
    CategoryFactory,
    CheckFactory,
    EnvironmentFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
)
from .conftest import service_token

CLIENTS = 32
TRIALS = 5


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.django_db(transaction=True)
def test_one_of_32_concurrent_deployments_wins_over_http(live_server):
    environment = EnvironmentFactory(slug="production", required_approvals=0, min_score=Decimal(0))
    project = environment.project
    release = ReleaseFactory(project=project, version="1.0.0")
    check = CheckFactory(project=project, category=CategoryFactory(project=project))
    ResultFactory(
        run=RunFactory(release=release, environment=environment, score=Decimal(100)),
        check_item=check,
    )
    token = service_token(project)
    url = f"{live_server.url}/api/v1/projects/{project.slug}/deployments/"
    body = {"version": "1.0.0", "environment": "production"}

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for trial in range(TRIALS):
            barrier = threading.Barrier(CLIENTS)

            def attempt(_: int) -> tuple[int, dict]:
                barrier.wait()  # noqa: B023 - each trial's barrier, used within the trial
                return _post(url, token, body)

            answers = list(pool.map(attempt, range(CLIENTS)))
            statuses = sorted(status for status, _ in answers)
            assert statuses == [201] + [409] * (CLIENTS - 1), f"trial {trial}: {statuses}"
            winner = next(b for s, b in answers if s == 201)
            for status, refused in answers:
                if status == 409:
                    assert refused["code"] == "environment_busy"
                    assert refused["holder"] == f"deployment #{winner['id']}"
            finished = _post(
                f"{live_server.url}/api/v1/deployments/{winner['id']}/finish/",
                token,
                {"status": "failed"},
            )
            assert finished[0] == 200
    assert Deployment.objects.filter(environment=environment).count() == TRIALS
