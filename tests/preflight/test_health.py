"""Health probes: no login, cheap, and naming what failed."""

from __future__ import annotations

import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_live_answers_without_login(client, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_the_database_and_the_broker(client, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_ready_names_an_unreachable_broker(client) -> None:
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("unreachable: ConnectionError")


def test_health_refuses_writes(client) -> None:
    assert client.post("/health/live").status_code == 405
