"""Running the demo's checks again does real work: http checks against Preflight's own health
endpoints (a live server), repository checks over the sample trees."""

from __future__ import annotations

import urllib.request
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from audit.actors import Actor
from checks.gate import evaluate_gate
from releases.models import Environment, Project, Release

from .test_demo import REVIEW_GAPS


@pytest.mark.django_db(transaction=True)
def test_running_the_demo_checks_does_real_work(live_server, settings):
    """A fresh run of 1.1.0 probes Preflight's own health endpoints over HTTP and reads the
    sample source tree; it reproduces the stored run. 1.0.0's tree fails the review's gaps."""
    from django.contrib.auth import get_user_model

    from checks.services.runs import run_execute, run_start

    settings.PREFLIGHT_BASE_URL = live_server.url
    # Its first request loads the site; the checks' latency budgets should time the endpoints.
    with urllib.request.urlopen(f"{live_server.url}/health/live", timeout=30) as answer:
        assert answer.status == 200
    call_command("load_demo", password="demo-pw", stdout=StringIO())
    project = Project.objects.get(slug="liquor-pos")
    staging = Environment.objects.get(project=project, slug="staging")
    dana = get_user_model().objects.get(username="dana")
    fixed = Release.objects.get(project=project, version="1.1.0")
    run, _ = run_start(actor=Actor.of_user(dana), release=fixed, environment=staging)
    run_execute(run.pk)
    run.refresh_from_db()
    statuses = dict(run.results.values_list("check_item__code", "status"))
    not_passing = {code: status for code, status in statuses.items() if status != "pass"}
    assert not_passing == {"DK-003": "fail", "BK-003": "error"}  # the two waived risks
    assert run.score == Decimal("100.0")
    http = run.results.filter(check_item__kind="http")
    assert http.exists()
    assert all(live_server.url in r.evidence_url for r in http)
    assert evaluate_gate(fixed, staging).allowed

    review = Release.objects.get(project=project, version="1.0.0")
    run, _ = run_start(actor=Actor.of_user(dana), release=review, environment=staging)
    run_execute(run.pk)
    failing = set(
        run.results.filter(check_item__kind="repository", status="fail").values_list(
            "check_item__code", flat=True
        )
    )
    assert failing
    assert failing <= set(REVIEW_GAPS)
    assert {"DS-001", "MG-001"} <= failing
