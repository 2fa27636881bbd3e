from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.models import Deployment
from tests.factories import DeploymentFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

URL = "/projects/shop/deployments/"


@pytest.fixture
def rolled_back(project, environments):  # type: ignore[no-untyped-def]
    """In production: 1.0.0 verified, then 1.1.0 verified and rolled back to 1.0.0."""
    prod = environments["production"]
    base = datetime.now(UTC) - timedelta(days=2)
    old = ReleaseFactory(project=project, version="1.0.0", created_at=base - timedelta(hours=5))
    new = ReleaseFactory(project=project, version="1.1.0", created_at=base)
    DeploymentFactory(
        release=old, environment=prod, started_at=base - timedelta(hours=1), verified_at=base
    )
    bad = DeploymentFactory(
        release=new,
        environment=prod,
        started_at=base + timedelta(hours=1),
        finished_at=base + timedelta(hours=1, minutes=2),
        verified_at=base + timedelta(hours=1, minutes=5),
    )
    rollback = DeploymentFactory(
        release=old,
        environment=prod,
        rollback_of=bad,
        status_detail="checkout broken",
        started_at=base + timedelta(hours=2),
        verified_at=base + timedelta(hours=2, minutes=20),
    )
    return {"bad": bad, "rollback": rollback}


def test_the_timeline_needs_login(client, project):  # type: ignore[no-untyped-def]
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_an_outsider_gets_404(client_of, outsider, project):  # type: ignore[no-untyped-def]
    assert client_of(outsider).get(URL).status_code == 404


def test_the_timeline_is_read_only(client_of, viewer):  # type: ignore[no-untyped-def]
    assert client_of(viewer).post(URL).status_code == 405


def test_a_rollback_links_to_what_it_rolled_back_and_back(client_of, viewer, rolled_back):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL).content.decode()
    bad, rollback = rolled_back["bad"], rolled_back["rollback"]
    assert f'id="deployment-{rollback.pk}"' in html
    assert f'#deployment-{bad.pk}">#{bad.pk} (1.1.0)</a>' in html
    assert f'#deployment-{rollback.pk}">#{rollback.pk}</a>' in html
    assert "checkout broken" in html


def test_metrics_and_their_definitions_are_shown(client_of, viewer, rolled_back):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL + "?window=7").content.decode()
    assert "Deployment frequency" in html
    assert "divided by all" in html  # the change failure rate's definition
    assert '33% <span class="muted small">(1 of 3)</span>' in html
    assert "20 min" in html  # time to restore: from the rollback's start to its verification
    assert html.count("<svg") >= 4


def test_filters_narrow_the_history(client_of, viewer, rolled_back, environments):  # type: ignore[no-untyped-def]
    DeploymentFactory(
        release=rolled_back["bad"].release, environment=environments["staging"], status="failed"
    )
    client = client_of(viewer)
    staging = client.get(URL + "?environment=staging").content.decode()
    assert staging.count('class="timeline-item') == 1
    failed = client.get(URL + "?status=verified&environment=production").content.decode()
    assert failed.count('class="timeline-item') == 3


def test_dates_outside_the_history_show_nothing(client_of, viewer, rolled_back):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL + "?since=2020-01-01&until=2020-01-31").content.decode()
    assert "No deployments match these filters." in html


def test_bad_filters_get_a_clear_422(client_of, viewer, project):  # type: ignore[no-untyped-def]
    response = client_of(viewer).get(URL + "?since=2026-05-02&until=2026-05-01&status=exploded")
    assert response.status_code == 422
    html = response.content.decode()
    assert "The end date comes before the start date." in html
    assert "Select a valid choice" in html
    assert f'<a href="{URL}">Show all deployments</a>' in html
    partial = client_of(viewer).get(URL + "?status=exploded", HTTP_HX_REQUEST="true")
    assert partial.status_code == 422
    assert f'<a href="{URL}">Show all deployments</a>' in partial.content.decode()


def test_a_malformed_page_link_is_a_422_not_a_500(client_of, viewer, project):  # type: ignore[no-untyped-def]
    assert client_of(viewer).get(URL + "?before=yesterday").status_code == 422


def test_an_htmx_request_gets_only_the_body_partial(client_of, viewer, rolled_back, htmx_headers):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL, headers=htmx_headers).content.decode()
    assert html.lstrip().startswith('<div id="timeline-body">')
    assert "<html" not in html


def test_pages_walk_back_through_the_history(client_of, viewer, project, environments):  # type: ignore[no-untyped-def]
    release = ReleaseFactory(project=project)
    start = datetime.now(UTC) - timedelta(days=3)
    for n in range(30):
        DeploymentFactory(
            release=release,
            environment=environments["staging"],
            started_at=start + timedelta(minutes=n),
        )
    client = client_of(viewer)
    first = client.get(URL).context
    assert len(first["deployments"]) == 25
    second = client.get(URL + "?" + first["older_query"]).context
    assert len(second["deployments"]) == 5
    assert second["older_query"] is None
    seen = {d.pk for d in first["deployments"]} | {d.pk for d in second["deployments"]}
    assert len(seen) == 30


def test_the_page_takes_as_many_queries_with_500_deployments_as_with_1(
    client_of, viewer, project, environments
):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    release = ReleaseFactory(project=project)
    DeploymentFactory(release=release, environment=environments["production"])
    client.get(URL)  # warm the session
    with CaptureQueriesContext(connection) as one:
        assert client.get(URL).status_code == 200
    start = datetime.now(UTC) - timedelta(days=20)
    first = None
    for n in range(500):
        d = DeploymentFactory(
            release=ReleaseFactory(project=project),
            environment=environments[("development", "staging", "production")[n % 3]],
            started_at=start + timedelta(minutes=30 * n),
            status="failed" if n % 9 == 0 else "verified",
            verified_at=start + timedelta(minutes=30 * n + 5),
            rollback_of=first if n % 50 == 49 else None,
        )
        first = first or d
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).status_code == 200
    assert len(many) == len(one)


def test_a_window_longer_than_a_year_is_refused(client_of, viewer, project):  # type: ignore[no-untyped-def]
    response = client_of(viewer).get(URL + "?since=2001-01-01")
    assert response.status_code == 422
    assert "Choose at most 366 days." in response.content.decode()


def test_the_page_reads_the_projects_environments_once(client_of, viewer, project, environments):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    client.get(URL)  # warm the session
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL).status_code == 200
    reads = [
        q["sql"] for q in captured if q["sql"].startswith('SELECT "releases_environment"."id"')
    ]
    assert len(reads) == 1, reads


def test_a_deployment_recorded_after_the_fact_is_marked(client_of, viewer, rolled_back):  # type: ignore[no-untyped-def]
    Deployment.objects.filter(pk=rolled_back["bad"].pk).update(recorded_after_the_fact=True)
    html = client_of(viewer).get(URL).content.decode()
    item = html.split(f'id="deployment-{rolled_back["bad"].pk}"')[1].split("</li>")[0]
    assert "recorded after the fact" in item
    other = html.split(f'id="deployment-{rolled_back["rollback"].pk}"')[1].split("</li>")[0]
    assert "recorded after the fact" not in other
