from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actors import Actor
from audit.models import AuditEvent
from audit.services import record
from releases.models import Project
from tests.factories import ProjectFactory

from .conftest import with_password

pytestmark = pytest.mark.django_db

URL = "/projects/shop/audit/"
EXPORT = "/projects/shop/audit/export"


def _event(project: Project, action: str = "deployment.started", **kw) -> AuditEvent:  # type: ignore[no-untyped-def]
    return record(
        actor=kw.pop("actor", Actor.of_system("ci")), action=action, project_id=project.pk, **kw
    )


def test_the_audit_log_needs_login(client, project):  # type: ignore[no-untyped-def]
    assert client.get(URL).status_code == 302
    assert client.post(EXPORT, {"format": "csv"}).status_code == 302


def test_an_outsider_gets_404_and_cannot_export(client_of, outsider, project):  # type: ignore[no-untyped-def]
    client = client_of(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(EXPORT, {"format": "csv"}).status_code == 404
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_a_member_sees_only_the_projects_events(client_of, viewer, project):  # type: ignore[no-untyped-def]
    other = ProjectFactory(slug="elsewhere")
    _event(project, "release.registered")
    _event(other, "secret.thing")
    html = client_of(viewer).get(URL).content.decode()
    assert "release.registered" in html
    assert "secret.thing" not in html


def test_filters_come_from_the_query_string(client_of, viewer, project):  # type: ignore[no-untyped-def]
    _event(project, "deployment.started")
    _event(project, "approval.granted", outcome="denied", message="four eyes")
    client = client_of(viewer)
    denied = client.get(URL + "?outcome=denied").context["page"].events
    assert [e.action for e in denied] == ["approval.granted"]
    prefix = client.get(URL + "?action=deployment.").context["page"].events
    assert [e.action for e in prefix] == ["deployment.started"]
    by_actor = client.get(URL + "?actor=system:ci").context["page"].events
    assert len(by_actor) == 2


def test_bad_filters_get_a_422_with_the_reason(client_of, viewer, project):  # type: ignore[no-untyped-def]
    response = client_of(viewer).get(URL + "?since=2026-02-02&until=2026-02-01&before=-3")
    assert response.status_code == 422
    html = response.content.decode()
    assert "The end date comes before the start date." in html
    assert f'<a href="{URL}">Show the whole log</a>' in html
    partial = client_of(viewer).get(URL + "?before=-3", HTTP_HX_REQUEST="true")
    assert partial.status_code == 422
    assert f'<a href="{URL}">Show the whole log</a>' in partial.content.decode()


def test_older_pages_follow_the_cursor(client_of, viewer, project):  # type: ignore[no-untyped-def]
    for _ in range(55):
        _event(project)
    client = client_of(viewer)
    first = client.get(URL + "?action=deployment.started").context["page"]
    assert len(first.events) == 50
    second = client.get(URL + f"?action=deployment.started&before={first.next_before}").context[
        "page"
    ]
    assert len(second.events) == 5
    assert second.next_before is None


def test_the_chain_is_verified_and_shown(client_of, viewer, project):  # type: ignore[no-untyped-def]
    _event(project)
    assert "chain intact" in client_of(viewer).get(URL).content.decode()


def test_the_chain_status_shows_the_anchor_and_a_chain_shortened_after_it(
    client_of, viewer, project
):  # type: ignore[no-untyped-def]
    from audit.anchors import anchor_head

    client = client_of(viewer)
    for _ in range(3):
        _event(project)
    anchor, _ = anchor_head()
    assert f"holds the anchor of #{anchor.seq}" in client.get(URL).content.decode()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [anchor.seq])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    page = client.get(URL).content.decode()
    assert "chain broken" in page
    assert "events were deleted from the end" in page


def test_a_big_chain_is_verified_on_demand(
    client_of, viewer, project, htmx_headers, settings, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("releases.audit_log.VERIFY_INLINE_UP_TO", 1)
    _event(project)
    _event(project)
    client = client_of(viewer)
    page = client.get(URL).content.decode()
    assert "Verify the chain now" in page
    assert "chain intact" not in page
    partial = client.get(URL + "?verify=1", headers=htmx_headers).content.decode()
    assert partial.lstrip().startswith('<div id="chain-status"')
    assert "chain intact" in partial


def test_export_needs_post(client_of, viewer, project):  # type: ignore[no-untyped-def]
    assert client_of(viewer).get(EXPORT + "?format=csv").status_code == 405


def test_the_log_itself_is_read_only(client_of, viewer, project):  # type: ignore[no-untyped-def]
    assert client_of(viewer).post(URL).status_code == 405


def test_export_refuses_an_unknown_format_and_records_nothing(client_of, viewer, project):  # type: ignore[no-untyped-def]
    response = client_of(viewer).post(EXPORT, {"format": "xml"})
    assert response.status_code == 422
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


def test_csv_export_streams_the_filtered_events_and_is_audited(client_of, viewer, project):  # type: ignore[no-untyped-def]
    _event(project, "deployment.started")
    _event(project, "approval.granted")
    response = client_of(viewer).post(EXPORT, {"format": "csv", "action": "deployment."})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="shop-audit-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["deployment.started"]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor == "vic"
    assert exported.project_id == project.pk
    assert exported.after == {"format": "csv", "filters": {"action": "deployment."}}


def test_jsonl_export_has_one_event_per_line_with_its_hash(client_of, viewer, project):  # type: ignore[no-untyped-def]
    event = _event(project, "deployment.started")
    response = client_of(viewer).post(EXPORT, {"format": "jsonl"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert rows[0]["hash"] == event.hash
    # The export's own record is part of what it exports: it was written first.
    assert rows[-1]["action"] == "audit.exported"


def test_filtering_and_paging_in_place_do_not_verify_the_chain_again(
    client_of, viewer, project, htmx_headers, monkeypatch
):  # type: ignore[no-untyped-def]
    # The chain's status is outside the swapped log body: an HTMX request reads only its page,
    # whether or not a whole page would verify the chain inline.
    _event(project)
    client = client_of(viewer)
    with CaptureQueriesContext(connection) as inline:
        assert client.get(URL + "?actor=ana", headers=htmx_headers).status_code == 200
    monkeypatch.setattr("releases.audit_log.VERIFY_INLINE_UP_TO", 0)
    with CaptureQueriesContext(connection) as on_demand:
        assert client.get(URL + "?actor=ana", headers=htmx_headers).status_code == 200
    assert len(inline) == len(on_demand)


def test_the_page_takes_as_many_queries_with_500_events_as_with_1(client_of, viewer, project):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    _event(project)
    client.get(URL)
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for _ in range(500):
        _event(project)
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).status_code == 200
    assert len(many) == len(one)


def test_the_failed_login_of_a_stranger_is_not_shown_to_members(client, client_of, viewer, project):  # type: ignore[no-untyped-def]
    record(actor=Actor.anonymous(), action="login.failed", project_id=None)
    with_password(viewer)
    assert "login.failed" not in client_of(viewer).get(URL).content.decode()


ALL = "/audit/"


def test_the_all_projects_log_shows_every_project_of_the_person_and_no_other(
    client_of, viewer, project
):  # type: ignore[no-untyped-def]
    second = ProjectFactory(slug="second", name="Second")
    second.memberships.create(user=viewer, role="admin")
    _event(project, "in.shop")
    _event(second, "in.second")
    _event(ProjectFactory(slug="elsewhere"), "in.elsewhere")
    record(actor=Actor.anonymous(), action="login.failed", project_id=None)
    html = client_of(viewer).get(ALL).content.decode()
    assert "in.shop" in html
    assert "in.second" in html
    assert "in.elsewhere" not in html
    assert "login.failed" not in html
    assert 'href="/projects/second/audit/">Second</a>' in html


def test_someone_in_no_project_sees_an_empty_log(client_of, outsider, project):  # type: ignore[no-untyped-def]
    _event(project, "in.shop")
    response = client_of(outsider).get(ALL)
    assert response.status_code == 200
    assert "No events match these filters." in response.content.decode()


def test_the_all_projects_export_names_the_projects_it_covers(client_of, viewer, project):  # type: ignore[no-untyped-def]
    _event(project, "in.shop")
    response = client_of(viewer).post(ALL + "export", {"format": "jsonl", "action": "in.shop"})
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [r["action"] for r in rows] == ["in.shop"]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.project_id is None
    assert exported.after == {
        "format": "jsonl",
        "filters": {"action": "in.shop"},
        "projects": ["shop"],
    }


def test_the_all_projects_log_needs_login_and_its_export_a_post(client, client_of, viewer):  # type: ignore[no-untyped-def]
    assert client.get(ALL).status_code == 302
    assert client_of(viewer).get(ALL + "export").status_code == 405
