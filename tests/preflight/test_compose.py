"""docker-compose.yml is validated offline: no engine is needed to catch a broken file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_and_has_the_production_shape(compose: dict) -> None:
    assert set(compose["services"]) == SERVICES
    assert "gunicorn" in compose["services"]["web"]["command"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_limits_and_a_restart_policy(compose: dict, name: str) -> None:
    service = compose["services"][name]
    limits = service["deploy"]["resources"]["limits"]
    assert limits["cpus"]
    assert limits["memory"]
    assert service["restart"] in {"unless-stopped", "no"}


@pytest.mark.parametrize("name", ["postgres", "redis", "web", "worker", "beat"])
def test_long_running_services_have_health_checks(compose: dict, name: str) -> None:
    assert compose["services"][name]["healthcheck"]["test"]


def test_no_secret_is_written_inline(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("SECRET", "PASSWORD", "DATABASE_URL", "KEY")):
                assert key.endswith("_FILE"), f"{name}: {key} must come from a secret file"
                assert str(value).startswith("/run/secrets/")


def test_beat_keeps_its_schedule_in_the_database_and_nothing_in_tmp(compose: dict) -> None:
    beat = compose["services"]["beat"]
    assert "--scheduler=preflight.beat.scheduler:DatabaseScheduler" in beat["command"]
    assert not any("/tmp" in part or "--schedule=" in part for part in beat["command"])
    assert "inspect ping -d celerybeat@" in beat["healthcheck"]["test"][1]


def test_metrics_are_scrapable_inside_the_compose_network(compose: dict) -> None:
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert web["environment"]["PREFLIGHT_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert "web" in web["environment"]["ALLOWED_HOSTS"].split(",")
    assert worker["environment"]["PREFLIGHT_WORKER_METRICS_ADDRESS"] == "0.0.0.0"
    assert worker["environment"]["PREFLIGHT_WORKER_METRICS_PORT"] in worker["expose"]
    assert "PREFLIGHT_WORKER_METRICS_PORT" not in compose["services"]["beat"]["environment"]
