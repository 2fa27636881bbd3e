from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.core.servers import basehttp
from rest_framework.test import APIClient

from audit.actors import Actor
from releases.services.tokens import token_issue

from ..factories import CategoryFactory, CheckFactory

OPERATOR = Actor.of_system("test")

# The live server's listen backlog is 10: the race tests open 32 and 50 connections at the same
# instant, and the kernel would reset the rest before the server accepted them.
basehttp.WSGIServer.request_queue_size = 128


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Throttle counters live in Redis; each test starts with none. Gate answers are computed
    each time, except in the tests of the gate cache: most tests change the project without
    committing, and the cache learns of changes on commit."""
    settings.PREFLIGHT_GATE_CACHE_SECONDS = 0
    cache.clear()
    yield
    cache.clear()


def user_token(user, name: str = "laptop") -> str:
    return token_issue(actor=OPERATOR, name=name, user=user)[1]


def service_token(project, name: str = "pipeline") -> str:
    return token_issue(actor=OPERATOR, name=name, project=project)[1]


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def as_user() -> Callable[..., APIClient]:
    return lambda user: bearer(user_token(user))


@pytest.fixture
def ci(project) -> APIClient:
    return bearer(service_token(project))


@pytest.fixture
def ci_check(project):
    """A ci check CI can report on."""
    return CheckFactory(
        project=project,
        category=CategoryFactory(project=project, key="ci", weight=100),
        code="CI-001",
        severity="high",
        kind="ci",
    )


@pytest.fixture
def open_dev(release, environments, passing_run):
    """Development needs no approvals: 1.0.0's passing run opens its gate."""
    return environments["development"]
