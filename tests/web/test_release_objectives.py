"""The release page's metrics objectives: each prometheus check of the readiness run shown and
of the latest verification, every objective's value, baseline and verdict, and the series the
verdict used drawn as SVG on the server. The results are real evaluations against the test run's
Prometheus."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.kinds import CheckContext, get_kind
from checks.kinds.base import VerifiedRelease
from checks.models import ReadinessRun
from tests.factories import CategoryFactory, CheckFactory, ResultFactory, RunFactory

pytestmark = pytest.mark.django_db

URL_ENV = "SHOP_PROMETHEUS_URL"
PAGE = "/projects/shop/releases/1.0.0/production/"


@pytest.fixture
def measured(monkeypatch, prometheus, service_metrics):  # type: ignore[no-untyped-def]
    """A real evaluation: 1.0.0's latency against 0.9.0's at the same time."""
    monkeypatch.setenv(URL_ENV, prometheus.url)
    service_metrics.set("0.9.0", latency=0.200)
    service_metrics.set("1.0.0", latency=0.210)
    service_metrics.wait_for_samples("0.9.0", 3, "pos_latency_seconds")
    service_metrics.wait_for_samples("1.0.0", 3, "pos_latency_seconds")
    config = get_kind("prometheus").validate(
        {
            "url_env": URL_ENV,
            "window": "20s",
            "step": "1s",
            "min_samples": 3,
            "baseline": {"selector": {"version": "{previous_version}"}},
            "objectives": [
                {
                    "name": "p95 latency",
                    "query": f"max(pos_latency_seconds{{{service_metrics.selector()}}})",
                    "pass": "<= +10%",
                    "warning": "<= +25%",
                    "key": True,
                }
            ],
        }
    )
    ctx = CheckContext(
        check_id=1,
        code="OBS-001",
        config=config,
        project_slug="shop",
        release_id=1,
        version="1.0.0",
        git_sha="abc1234",
        environment_id=1,
        environment_slug="production",
        timeout=30,
        as_of=timezone.now(),
        verified=VerifiedRelease(version="0.9.0", git_sha="b" * 40),
    )
    outcome = get_kind("prometheus").evaluate(ctx)
    assert outcome.status == "pass", outcome.detail
    return config, outcome


def add_checks(release, environment, run, measured, start: int, count: int) -> None:  # type: ignore[no-untyped-def]
    config, outcome = measured
    category = release.project.categories.first() or CategoryFactory(
        project=release.project, key="runtime", weight=100
    )
    for n in range(start, start + count):
        check = CheckFactory(
            project=release.project,
            category=category,
            code=f"OBS-{n:03d}",
            title=f"Latency {n}",
            kind="prometheus",
            config=config,
            phase="post" if run.kind == "verification" else "pre-deploy-day",
        )
        ResultFactory(
            run=run,
            check_item=check,
            status=outcome.status,
            detail=outcome.detail,
            data=outcome.data,
        )


def test_the_page_shows_each_objective_its_baseline_and_the_series_it_was_judged_on(
    client_of, viewer, release, environments, measured
):
    run = RunFactory(release=release, environment=environments["production"])
    add_checks(release, environments["production"], run, measured, 1, 1)
    html = client_of(viewer).get(PAGE).content.decode()
    card = html[html.index('id="objectives"') :]
    assert "Metrics objectives" in card
    assert "OBS-001" in card
    assert f"Readiness run #{run.pk}" in card
    assert "baseline: version=&quot;0.9.0&quot; over the same window" in card
    assert (
        "Value <strong>0.21</strong> · baseline <strong>0.2</strong> · pass &lt;= +10%, warning &lt;= +25%"
        in card
    )
    # Two lines (this release and its baseline) and the two thresholds they were judged by.
    lines = re.findall(r'<polyline class="(\w+)" points="([^"]+)"', card)
    assert [css for css, _ in lines] == ["info", "neutral"]
    assert all(len(points.split()) >= 3 for _, points in lines)
    assert re.findall(r'<line class="rule (\w+)"', card) == ["pass", "warn"]
    assert "pass threshold 0.22" in card
    assert "p95 latency: 0.21 against a baseline of 0.2 (pass), over" in card


def test_a_verification_still_watching_says_so(client_of, viewer, release, environments, measured):
    run = RunFactory(
        release=release,
        environment=environments["production"],
        kind=ReadinessRun.Kind.VERIFICATION,
        status="running",
        finished_at=None,
    )
    config, outcome = measured
    watching = (
        config,
        type(outcome)(
            "pending",
            "Watching 1.0.0 …",
            data={**outcome.data, "recheck": {"tick": 2, "after": 30}},
        ),
    )
    add_checks(release, environments["production"], run, watching, 1, 1)
    html = client_of(viewer).get(PAGE).content.decode()
    assert f"Post-deploy verification run #{run.pk}, still watching" in html


def test_without_prometheus_checks_the_page_has_no_objectives_card(client_of, viewer, passing_run):
    html = client_of(viewer).get(PAGE).content.decode()
    assert 'id="objectives"' not in html


def test_the_objectives_cost_the_same_queries_for_one_check_or_many(
    client_of, viewer, release, environments, measured
):
    production = environments["production"]
    readiness = RunFactory(release=release, environment=production)
    verification = RunFactory(
        release=release, environment=production, kind=ReadinessRun.Kind.VERIFICATION
    )
    client = client_of(viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured.captured_queries)

    add_checks(release, production, readiness, measured, 1, 1)
    add_checks(release, production, verification, measured, 2, 1)
    few = queries()
    add_checks(release, production, readiness, measured, 10, 15)
    add_checks(release, production, verification, measured, 30, 15)
    many = queries()
    assert many == few
    html = client.get(PAGE).content.decode()
    assert html.count("<polyline") == 2 * 32
