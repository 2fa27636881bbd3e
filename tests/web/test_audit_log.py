from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.actors import Actor
from audit.models import AuditEvent, ChainVerification
from audit.services import record
from audit.tasks import verify_chain
from audit.verification import chain_verification_record
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


def test_the_chain_status_is_the_last_stored_verification_not_one_per_view(
    client_of, viewer, project
):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    _event(project)
    assert "not verified yet" in client.get(URL).content.decode()
    assert not ChainVerification.objects.exists()  # a page view verifies nothing

    verification = chain_verification_record()
    page = client.get(URL).content.decode()
    assert "chain intact" in page
    assert f"verified up to event #{verification.head_seq} at" in page
    # The status names the last event read, never a count that could pass for the rows listed.
    assert "events verified" not in page


def test_a_tampered_chain_shows_broken_after_the_next_verification(client_of, viewer, project):  # type: ignore[no-untyped-def]
    from audit.anchors import anchor_head

    client = client_of(viewer)
    for _ in range(3):
        _event(project)
    anchor, _ = anchor_head()
    chain_verification_record()
    assert f"holds the anchor of #{anchor.seq}" in client.get(URL).content.decode()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [anchor.seq])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    assert "chain intact" in client.get(URL).content.decode()  # until the next verification
    verify_chain()  # the beat task
    page = client.get(URL).content.decode()
    assert "chain broken" in page
    assert "events were deleted from the end" in page


def test_verify_audit_stores_its_result(project):  # type: ignore[no-untyped-def]
    from django.core.management import call_command

    _event(project)
    call_command("verify_audit", stdout=io.StringIO())
    stored = ChainVerification.objects.get()
    assert stored.ok
    assert stored.head_seq == AuditEvent.objects.order_by("-seq").first().seq  # type: ignore[union-attr]


def test_the_header_counts_exactly_the_rows_listed(client_of, viewer, project):  # type: ignore[no-untyped-def]
    for _ in range(53):
        _event(project)
    client = client_of(viewer)
    response = client.get(URL)
    html = response.content.decode()
    listed = len(response.context["page"].events)
    assert listed == 50 == html.count('<tr id="event-')
    assert ">50 listed; older on the next page<" in html
    older = client.get(URL + f"?before={response.context['page'].next_before}").content.decode()
    assert older.count('<tr id="event-') == 3
    assert "3 listed, before #" in older


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


@pytest.fixture
def staff(viewer):  # type: ignore[no-untyped-def]
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    return viewer


def _refusals(project: Project) -> None:
    record(actor=Actor.anonymous(), action="auth.login_failed", outcome="denied", message="no")
    record(actor=Actor.of_system("x"), action="http.forbidden", outcome="denied", message="no")
    _event(project, "approval.granted", outcome="denied", message="four eyes")
    record(actor=Actor.of_system("x"), action="auth.login")


def test_staff_see_the_events_of_no_project_on_the_all_projects_log(client_of, staff, project):  # type: ignore[no-untyped-def]
    _refusals(project)
    response = client_of(staff).get(ALL)
    actions = [e.action for e in response.context["page"].events]
    assert {"auth.login_failed", "http.forbidden", "approval.granted", "auth.login"} <= set(actions)
    assert "no project" in response.content.decode()
    # A project's own page stays that project's.
    assert "auth.login_failed" not in client_of(staff).get(URL).content.decode()


def test_the_denied_filter_finds_every_refusal_the_reader_may_see(client_of, staff, project):  # type: ignore[no-untyped-def]
    _refusals(project)
    _event(project, "deployment.started")
    denied = client_of(staff).get(ALL + "?outcome=denied").context["page"].events
    assert [e.action for e in denied] == ["approval.granted", "http.forbidden", "auth.login_failed"]


def test_a_staff_export_says_it_holds_the_events_of_no_project(client_of, staff, project):  # type: ignore[no-untyped-def]
    _refusals(project)
    response = client_of(staff).post(ALL + "export", {"format": "jsonl", "outcome": "denied"})
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [r["action"] for r in rows] == [
        "auth.login_failed",
        "http.forbidden",
        "approval.granted",
    ]
    assert AuditEvent.objects.get(action="audit.exported").after["no_project_events"] is True


def test_the_all_projects_log_costs_the_same_queries_with_3_and_with_300_events(
    client_of, staff, project
):  # type: ignore[no-untyped-def]
    client = client_of(staff)
    _refusals(project)
    chain_verification_record()
    client.get(ALL)
    with CaptureQueriesContext(connection) as few:
        assert client.get(ALL + "?outcome=denied").status_code == 200
    for _ in range(100):
        _refusals(project)
    chain_verification_record()
    with CaptureQueriesContext(connection) as many:
        response = client.get(ALL + "?outcome=denied")
    assert len(response.context["page"].events) == 50
    assert len(many) == len(few)
