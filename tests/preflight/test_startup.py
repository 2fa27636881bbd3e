"""Start-up under production settings, as an operator meets it: from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "preflight.settings.production",
    "SECRET_KEY": "prod-" + "0123456789abcdefghij" * 3,
    "PREFLIGHT_AUDIT_ANCHOR_KEY": "anchor-" + "abcdefghij0123456789" * 3,
    "ALLOWED_HOSTS": "preflight.example.com",
    "DATABASE_URL": "postgres://preflight:pw@127.0.0.1:1/preflight",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The browser tests' fixtures allow async-unsafe calls in this process; a deployment never does.
    dropped = {*PRODUCTION_ENV, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base["PREFLIGHT_VAR_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is required: expected a random string of at least 50"),
        (
            "PREFLIGHT_AUDIT_ANCHOR_KEY",
            "PREFLIGHT_AUDIT_ANCHOR_KEY is required: expected a random string of at least 50",
        ),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS is required: expected the host names"),
        ("DATABASE_URL", "DATABASE_URL is required: expected a database URL"),
        ("REDIS_URL", "REDIS_URL is required: expected a Redis URL"),
    ],
)
def test_a_missing_production_setting_stops_start_up_with_one_line(
    missing: str, message: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"preflight: configuration error: {message}")


def test_a_malformed_setting_is_named(tmp_path: Path) -> None:
    result = manage(
        "check", env={**PRODUCTION_ENV, "DATABASE_URL": "sqlite:///x.db"}, tmp_path=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "preflight: configuration error: DATABASE_URL is malformed: "
        "expected a postgres/postgresql:// URL, got sqlite scheme"
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_secret_key_is_never_printed(tmp_path: Path) -> None:
    env = {**PRODUCTION_ENV, "SECRET_KEY": "too-short-to-be-a-key"}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "too-short-to-be-a-key" not in result.stdout + result.stderr
