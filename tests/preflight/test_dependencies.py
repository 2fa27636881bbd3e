"""What the production image installs, and stubs that describe the libraries actually locked."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"


def _production_packages() -> set[str]:
    # The Dockerfile's own selection: the project's dependencies without the dev group.
    result = subprocess.run(
        [str(UV), "export", "--locked", "--no-dev", "--no-hashes", "--no-header"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"UV_PYTHON_DOWNLOADS": "never", "PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return {
        line.split("==")[0].strip().lower()
        for line in result.stdout.splitlines()
        if "==" in line and not line.startswith(" ")
    }


def _locked() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_the_dockerfile_installs_only_the_production_dependencies() -> None:
    assert "uv sync --locked --no-dev" in (ROOT / "Dockerfile").read_text()
    packages = _production_packages()
    for wanted in ("django", "gunicorn", "celery", "boto3", "prometheus-client", "sentry-sdk"):
        assert wanted in packages
    for left_out in ("honcho", "pytest", "playwright", "moto", "ruff", "mypy", "django-stubs"):
        assert left_out not in packages


@pytest.mark.parametrize(
    ("stubs", "library"),
    [
        ("django-stubs", "django"),
        ("djangorestframework-stubs", "djangorestframework"),
        ("types-pyyaml", "pyyaml"),
        ("boto3-stubs", "boto3"),
    ],
)
def test_stubs_match_their_library_release(stubs: str, library: str) -> None:
    locked = _locked()
    assert locked[stubs].split(".")[:2] == locked[library].split(".")[:2], (
        f"{stubs} {locked[stubs]} describes another release than {library} {locked[library]}"
    )
