from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The client is its own package (client/pyproject.toml) and is not installed into the
# project's virtualenv; the tests import it from its source directory, as the end-to-end
# tests run it (PYTHONPATH=client python -m preflight_client).
CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))

from preflight_client.cli import main  # noqa: E402

from .fake_api import FakeApi  # noqa: E402
from .live import World, build_world, celery_worker  # noqa: E402


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    sleeps: list[float] = field(default_factory=list)


@dataclass
class FakeClock:
    """Time that passes only when the command sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    with FakeApi() as api:
        yield api


@pytest.fixture
def preflight(fake_api: FakeApi) -> Callable[..., Outcome]:
    """Run the command in this process against the fake API, with a clock that never waits."""

    def run(*argv: str, token: str = "pf_test") -> Outcome:
        out, err, clock = io.StringIO(), io.StringIO(), FakeClock()
        code = main(
            list(argv),
            env={"PREFLIGHT_URL": fake_api.url, "PREFLIGHT_TOKEN": token},
            stdout=out,
            stderr=err,
            sleep=clock.sleep,
            clock=clock,
        )
        return Outcome(code, out.getvalue(), err.getvalue(), clock.sleeps)

    return run


@pytest.fixture
def world(live_server) -> World:  # type: ignore[no-untyped-def]
    """Preflight on a live server with a project to release (see live.build_world)."""
    return build_world(live_server.url)


@pytest.fixture(scope="package")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A real Celery worker executing readiness runs, started once for the tests that need it.
    Stopped when this package's tests end: the worker tests of other packages expect runs to
    stay queued until they start workers of their own."""
    with celery_worker(tmp_path_factory.mktemp("worker") / "celery.log") as process:
        yield process
