"""The ``preflight`` command against Preflight itself (see live.py): release to rollback,
timeouts, refusals and replayed keys, each checked against the database."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from releases.models import Deployment

from ..factories import DeploymentFactory, ReleaseFactory
from .live import FAST, approve, finished_run, preflight, reasons_now, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_the_whole_pipeline_release_run_gate_approvals_deploy_finish_rollback(worker, world):
    registered = preflight(world, "release", "shop", "1.0.0", "--git-sha", "ABC1234")
    assert (registered.returncode, registered.stdout) == (0, "Registered shop 1.0.0 (abc1234).\n")
    again = preflight(world, "release", "shop", "1.0.0", "--git-sha", "abc1234")
    assert (again.returncode, again.stdout) == (
        0,
        "shop 1.0.0 was already registered for abc1234.\n",
    )

    # run --wait polls the run while the Celery worker executes it.
    running = start(world, "run", "shop", "1.0.0", "production", "--wait", *FAST)
    out, err = running.communicate(timeout=60)
    assert running.returncode == 0, err
    run = finished_run("1.0.0")
    assert out == f"Run {run.pk} finished: score 0.0, 1 check(s) not passing.\n"

    # CI-001 is not reported and nobody approved: closed, with every reason the gate gives.
    closed = preflight(world, "gate", "shop", "1.0.0", "production")
    assert closed.returncode == 1
    reasons = reasons_now(world)
    assert len(reasons) >= 3
    assert closed.stdout.splitlines()[1:] == [f"  - {r}" for r in reasons]

    reported = preflight(
        world, "report", "shop", "1.0.0", "production", "CI-001", "--status", "passed",
        "--detail", "412 tests", "--evidence-url", "https://ci.example.com/runs/7",
    )  # fmt: skip
    assert reported.returncode == 0, reported.stderr

    # gate --wait is asking (and told "closed") before the approvers decide; then it opens.
    waiting = start(
        world, "gate", "shop", "1.0.0", "production", "--wait", "--timeout", "60", *FAST
    )
    assert waiting.stderr is not None
    assert waiting.stderr.readline().startswith("Gate closed (")
    assert approve(world, world.ana) == 201
    assert approve(world, world.ben) == 201
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0
    assert out == "Gate open: shop 1.0.0 → production: score 100.0 (min 80.0), approvals 2/2.\n"

    deployed = preflight(world, "deploy", "shop", "1.0.0", "production", "--strategy", "canary")
    assert deployed.returncode == 0, deployed.stderr
    deployment = Deployment.objects.get(pk=int(deployed.stdout))
    assert (deployment.status, deployment.strategy) == ("in_progress", "canary")

    busy = preflight(world, "deploy", "shop", "1.0.0", "production")
    assert busy.returncode == 7
    assert busy.stdout == ""
    assert busy.stderr.startswith("preflight: 409 environment_busy: production is busy")

    finished = preflight(world, "finish", str(deployment.pk), "succeeded")
    assert finished.returncode == 0, finished.stderr
    deployment.refresh_from_db()
    assert deployment.status == "verified"  # no post-deploy checks apply: verified at once
    status = preflight(world, "status", "shop", "1.0.0", "production")
    assert status.stdout.splitlines()[1] == (
        f"  production: run {run.pk} finished (score 100.0); deployment {deployment.pk} verified; "
        "approvals 2, rejections 0"
    )

    rolled = preflight(world, "rollback", str(deployment.pk), "--reason", "Checkout errors")
    assert rolled.returncode == 0, rolled.stderr
    rollback = Deployment.objects.get(pk=int(rolled.stdout))
    assert (rollback.rollback_of_id, rollback.release.version) == (deployment.pk, "0.9.0")


def test_gate_wait_gives_up_at_the_timeout_printing_every_reason(world):
    ReleaseFactory(project=world.production.project, version="1.0.0")
    started = time.monotonic()
    outcome = preflight(world, "gate", "shop", "1.0.0", "production", "--wait", "--timeout", "1.5", *FAST)  # fmt: skip
    assert outcome.returncode == 1
    assert time.monotonic() - started >= 1.5
    assert outcome.stdout.splitlines()[1:] == [f"  - {r}" for r in reasons_now(world)]
    assert "the gate stayed closed for 1.5s" in outcome.stderr
    assert outcome.stderr.count("Gate closed (") >= 3  # it asked more than once


def test_deploying_through_a_closed_gate_exits_8_with_the_reasons(world):
    ReleaseFactory(project=world.production.project, version="1.0.0")
    outcome = preflight(world, "deploy", "shop", "1.0.0", "production")
    assert outcome.returncode == 8
    lines = outcome.stderr.splitlines()
    assert lines[0] == "preflight: 412 gate_closed: The gate for 1.0.0 → production is closed."
    assert lines[1:] == [f"  - {r}" for r in reasons_now(world)]
    assert not Deployment.objects.filter(release__version="1.0.0").exists()


@pytest.mark.worker
def test_a_repeated_idempotency_key_replays_the_first_deployment(worker, world):
    release = ReleaseFactory(project=world.production.project, version="1.0.0")
    world.production.required_approvals = 0
    world.production.min_score = Decimal(0)
    world.production.save()
    preflight(world, "report", "shop", "1.0.0", "production", "CI-001", "--status", "pass")
    assert preflight(world, "run", "shop", "1.0.0", "production", "--wait", *FAST).returncode == 0
    argv = ["deploy", "shop", "1.0.0", "production", "--idempotency-key", "pipeline-77-deploy"]
    first, second = preflight(world, *argv), preflight(world, *argv)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert Deployment.objects.filter(release=release).count() == 1


@pytest.mark.worker
def test_a_deploy_refused_as_busy_starts_with_the_same_key_once_the_environment_is_free(
    worker, world
):
    release = ReleaseFactory(project=world.production.project, version="1.0.0")
    world.production.required_approvals = 0
    world.production.min_score = Decimal(0)
    world.production.save()
    preflight(world, "report", "shop", "1.0.0", "production", "CI-001", "--status", "pass")
    assert preflight(world, "run", "shop", "1.0.0", "production", "--wait", *FAST).returncode == 0
    hotfix = DeploymentFactory(
        release=ReleaseFactory(project=world.production.project, version="0.9.1"),
        environment=world.production,
        status="in_progress",
    )
    argv = ["deploy", "shop", "1.0.0", "production", "--idempotency-key", "run-41-1-deploy"]
    busy = preflight(world, *argv)
    assert busy.returncode == 7, busy.stderr

    Deployment.objects.filter(pk=hotfix.pk).update(status="succeeded", finished_at=timezone.now())
    deployed = preflight(world, *argv)
    assert deployed.returncode == 0, deployed.stderr
    assert Deployment.objects.get(release=release).pk == int(deployed.stdout)


@pytest.mark.parametrize(
    ("argv", "token", "exit_code", "message"),
    [
        (["gate", "shop", "1.0.0", "production"], "pf_not-a-token", 4, "401 invalid_token"),
        (["deploy", "shop", "1.0.0", "production"], "viewer", 4, "403 role_insufficient"),
        (["gate", "shop", "9.9.9", "production"], None, 5, "404 not_found"),
        (["gate", "elsewhere", "1.0.0", "production"], None, 5, "404 not_found"),
        (
            ["report", "shop", "1.0.0", "production", "CI-001", "--status", "pass",
             "--evidence-url", "not a link"],
            None, 3, "400 invalid",
        ),
        (["release", "shop", "1.0.0", "--git-sha", "fedcba9"], None, 6, "409 version_conflict"),
    ],
)  # fmt: skip
def test_refusals_exit_with_their_codes_and_one_clear_line(world, argv, token, exit_code, message):
    ReleaseFactory(project=world.production.project, version="1.0.0", git_sha="abc1234")
    outcome = preflight(world, *argv, token=world.viewer if token == "viewer" else token)
    assert outcome.returncode == exit_code, outcome.stderr
    assert outcome.stderr.startswith(f"preflight: {message}")
    assert outcome.stdout == ""
