from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def client_of():  # type: ignore[no-untyped-def]
    """A test client logged in as the given user."""

    def make(user) -> Client:  # type: ignore[no-untyped-def]
        client = Client()
        # The session remembers a hash of the stored password: store the one the factory set.
        client.force_login(with_password(user))
        return client

    return make


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    return {"HX-Request": "true"}


PASSWORD = "pw"


def with_password(user):  # type: ignore[no-untyped-def]
    """The factories hash the password without saving it; log-in tests need it stored."""
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


@pytest.fixture(autouse=True)
def _no_login_failures_carried_over():
    """Failed-login counters live in the shared cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
