"""docs/ci.md works as written: its curl script runs the whole flow against a live server, and
every ``preflight`` command in its GitHub Actions workflow is one the client accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from django.db import connection, transaction
from django.utils import timezone
from preflight_client.cli import build_parser
from preflight_client.exitcodes import Exit

from releases.models import Deployment, Environment, IdempotencyKey

from ..factories import DeploymentFactory, ReleaseFactory
from .live import approve, finished_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def block(name: str) -> str:
    """The fenced block that follows ``<!-- test: name -->`` in docs/ci.md."""
    found = re.search(
        rf"<!-- test: {name} -->\n```\w+\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S
    )
    assert found, f"docs/ci.md has no block marked {name}"
    return found.group(1)


# While the deployment is in progress, a second one is refused with 409.
SECOND_DEPLOY_IS_BUSY = (
    'test "$(curl -s -o /dev/null -w "%{http_code}" -X POST '
    '-H "Authorization: Bearer $PREFLIGHT_TOKEN" -H "Content-Type: application/json" '
    """--data '{"version": "1.0.0", "environment": "production"}' """
    '"$PREFLIGHT_URL/api/v1/projects/shop/deployments/")" = 409'
)


def run_script(world, script: Path, run_id: str, deploy: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(script), "shop", "1.0.0", "production", "abc1234"],
        env={
            "PATH": os.environ["PATH"],
            "PREFLIGHT_URL": world.url,
            "PREFLIGHT_TOKEN": world.ci,
            "CI_CHECK": "CI-001",
            "CI_RUN_ID": run_id,
            "GATE_TIMEOUT": "60",
            "DEPLOY_COMMAND": deploy,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_curl_script_runs_release_to_finish_and_repeats_safely(worker, world, tmp_path):
    script = tmp_path / "preflight-pipeline.sh"
    script.write_text(block("curl") + "\n")

    first = run_script(world, script, "pipeline-1", deploy=SECOND_DEPLOY_IS_BUSY)
    run = finished_run("1.0.0")  # by the Celery worker
    # The script is asking the gate by now; the approvers decide in Preflight.
    assert approve(world, world.ana) == 201
    assert approve(world, world.ben) == 201
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    deployment = Deployment.objects.get(release__version="1.0.0")
    assert deployment.status == "verified"
    assert out.splitlines() == [
        "Release shop 1.0.0 registered.",
        f"Readiness run {run.pk} finished: score 100.0.",
        "Gate open for 1.0.0 → production.",
        f"Deployment {deployment.pk} started.",
        f"Deployment {deployment.pk} succeeded.",
    ]
    steps = ["release", "report-CI-001", "run", "deploy", "finish"]
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) >= {
        f"pipeline-1-shop-1.0.0-production-{step}" for step in steps
    }

    # The same pipeline run again (a re-run job, its deploy done again): every POST replays
    # its first answer, so nothing is registered, started or finished twice.
    again = run_script(world, script, "pipeline-1", deploy="true")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"Deployment {deployment.pk} succeeded." in out
    assert Deployment.objects.filter(release__version="1.0.0").count() == 1


def _wait_for_a_request_waiting_on_a_lock() -> None:
    deadline = time.monotonic() + 120
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the script never asked to deploy")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_curl_script_run_again_after_a_busy_environment_deploys_with_the_same_keys(
    worker, world, tmp_path
):
    script = tmp_path / "preflight-pipeline.sh"
    script.write_text(block("curl") + "\n")

    first = run_script(world, script, "pipeline-7-1", deploy="true")
    finished_run("1.0.0")
    # Between the gate opening and the script's deploy, a hotfix takes production: the
    # environment's row is held until the hotfix's deployment is in, as a concurrent deploy would.
    with transaction.atomic():
        Environment.objects.select_for_update(no_key=True).get(pk=world.production.pk)
        assert approve(world, world.ana) == 201
        assert approve(world, world.ben) == 201
        _wait_for_a_request_waiting_on_a_lock()
        hotfix = DeploymentFactory(
            release=ReleaseFactory(project=world.production.project, version="0.9.1"),
            environment=world.production,
            status="in_progress",
        )
    out, err = first.communicate(timeout=120)
    assert first.returncode == 7, err
    assert "production is busy" in err
    assert not Deployment.objects.filter(release__version="1.0.0").exists()

    # The hotfix ends; the same run of the pipeline goes again, with the same keys.
    Deployment.objects.filter(pk=hotfix.pk).update(status="succeeded", finished_at=timezone.now())
    again = run_script(world, script, "pipeline-7-1", deploy="true")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    deployment = Deployment.objects.get(release__version="1.0.0")
    assert out.splitlines()[-2:] == [
        f"Deployment {deployment.pk} started.",
        f"Deployment {deployment.pk} succeeded.",
    ]
    kept = IdempotencyKey.objects.get(key="pipeline-7-1-shop-1.0.0-production-deploy")
    assert kept.response_status == 201


def github_commands() -> list[list[str]]:
    """Every preflight command line in the workflow, with expressions and variables filled in
    the way the runner would."""
    workflow = yaml.safe_load(block("github-actions"))
    values = {"status": "pass", "PROJECT": "liquor-pos", "VERSION": "1.2.7"}
    commands = []
    for step in workflow["jobs"]["release"]["steps"]:
        script = step.get("run", "").replace("\\\n", " ")
        script = script.replace("${{ steps.deployment.outputs.id }}", "41")
        script = re.sub(r"\$\{\{.*?\}\}", "x", script)
        script = re.sub(r'"\$\(git [^)]*\)"', "subject", script)
        script = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), "x"), script)
        for line in script.splitlines():
            if "preflight " in line:
                command = line[line.index("preflight ") :].split(')"')[0].removesuffix(")")
                commands.append(shlex.split(command)[1:])
    return commands


def test_every_preflight_command_in_the_github_workflow_is_accepted():
    commands = github_commands()
    assert {argv[0] for argv in commands} == {
        "release",
        "report",
        "run",
        "gate",
        "deploy",
        "finish",
    }
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # exits (fails the test) on anything the client refuses


def test_the_workflow_runs_the_client_it_installs():
    workflow = yaml.safe_load(block("github-actions"))
    runs = [step.get("run", "") for step in workflow["jobs"]["release"]["steps"]]
    assert "pip install ./client" in runs
    assert workflow["env"]["PREFLIGHT_TOKEN"] == "${{ secrets.PREFLIGHT_TOKEN }}"


def test_the_workflow_keys_name_the_run_its_attempt_and_the_step():
    workflow = yaml.safe_load(block("github-actions"))
    keys = [
        key
        for step in workflow["jobs"]["release"]["steps"]
        for key in re.findall(r'--idempotency-key "([^"]+)"', step.get("run", ""))
    ]
    assert keys
    assert all(k.startswith("$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT-") for k in keys), keys


def test_the_exit_code_table_lists_every_exit_code():
    table = DOC.read_text(encoding="utf-8").split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    assert documented == {int(code) for code in Exit}
