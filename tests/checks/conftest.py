from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from checks.kinds import CheckContext, get_kind
from scripts.fake_http import FakeHTTPServer


@pytest.fixture(scope="session")
def _shared_http_server() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as server:
        yield server


@pytest.fixture
def http_server(_shared_http_server: FakeHTTPServer) -> FakeHTTPServer:
    """A local HTTP server for http checks; ``requests`` holds this test's requests only."""
    _shared_http_server.requests.clear()
    return _shared_http_server


def context(
    kind: str, config: Mapping[str, Any], *, timeout: float = 30, **extra: Any
) -> CheckContext:
    """A check context as a run builds it, with the config validated as an import would."""
    values: dict[str, Any] = {
        "check_id": 1,
        "code": "T-001",
        "config": get_kind(kind).validate(config),
        "project_slug": "shop",
        "release_id": 1,
        "version": "1.0.0",
        "git_sha": "abc1234",
        "environment_id": 1,
        "environment_slug": "production",
        "timeout": timeout,
        **extra,
    }
    return CheckContext(**values)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (manage.py, a Celery worker) that must use the test
    database and the throwaway Redis."""
    import os

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "preflight.settings.test",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL or "",
        **extra,
    }
