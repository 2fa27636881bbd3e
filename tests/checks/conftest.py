from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from checks.kinds import CheckContext, get_kind
from scripts.fake_http import FakeHTTPServer


@pytest.fixture
def http_server() -> Iterator[FakeHTTPServer]:
    with FakeHTTPServer() as server:
        yield server


def context(kind: str, config: Mapping[str, Any], *, timeout: float = 30, **extra: Any) -> CheckContext:
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
