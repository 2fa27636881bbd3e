from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checks.models import CheckResult
from tests.factories import CategoryFactory, CheckFactory, ResultFactory

pytestmark = pytest.mark.django_db

URL = "/projects/shop/releases/1.0.0/production/report"


def test_the_report_needs_login(client, release, environments):  # type: ignore[no-untyped-def]
    assert client.get(URL).status_code == 302


def test_an_outsider_gets_404(client_of, outsider, release, environments):  # type: ignore[no-untyped-def]
    assert client_of(outsider).get(URL).status_code == 404
    assert client_of(outsider).get(URL + "?format=markdown").status_code == 404


def test_unknown_release_or_environment_is_404(client_of, viewer, release, environments):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    assert client.get("/projects/shop/releases/9.9.9/production/report").status_code == 404
    assert client.get("/projects/shop/releases/1.0.0/moon/report").status_code == 404


def test_the_report_is_read_only(client_of, viewer, release, environments):  # type: ignore[no-untyped-def]
    assert client_of(viewer).post(URL).status_code == 405


def test_without_a_finished_run_the_report_says_there_is_nothing_to_review(
    client_of, viewer, release, environments
):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL).content.decode()
    assert "No readiness run of 1.0.0 for Production has finished yet" in html
    assert "NOT READY FOR PRODUCTION" in html


def test_the_report_page_is_in_the_layout_with_print_and_markdown(client_of, viewer, passing_run):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get(URL).content.decode()
    assert 'class="topbar noprint"' in html  # inside the layout; the print sheet drops it
    assert "Deployment Readiness Review" in html
    assert "{#" not in html
    assert "<strong>Overall Readiness Score:</strong> <strong>100.0/100</strong>" in html
    assert 'href="?format=markdown"' in html
    assert '<button type="button" class="primary" data-print>Print</button>' in html


def test_the_markdown_download_is_the_same_review(client_of, viewer, passing_run):  # type: ignore[no-untyped-def]
    response = client_of(viewer).get(URL + "?format=markdown")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="shop-1.0.0-production-readiness.md"'
    )
    text = response.content.decode()
    assert text.startswith("# Deployment Readiness Review")
    assert "**Overall Readiness Score:** **100.0/100**" in text


def test_an_unknown_format_is_a_400(client_of, viewer, release, environments):  # type: ignore[no-untyped-def]
    response = client_of(viewer).get(URL + "?format=pdf")
    assert response.status_code == 400
    assert "html or markdown" in response.content.decode()


def test_the_release_page_links_to_its_report(client_of, viewer, release, environments):  # type: ignore[no-untyped-def]
    html = client_of(viewer).get("/projects/shop/releases/1.0.0/production/").content.decode()
    assert 'href="/projects/shop/releases/1.0.0/production/report"' in html


def test_the_report_takes_as_many_queries_with_500_checks_as_with_1(
    client_of, viewer, passing_run, project
):  # type: ignore[no-untyped-def]
    client = client_of(viewer)
    client.get(URL)
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    run = passing_run["production"]
    category = CategoryFactory(project=project, key="more", weight=50)
    for n in range(499):
        check = CheckFactory(project=project, category=category, severity="low", in_checklist=True)
        ResultFactory(run=run, check_item=check, status="fail" if n % 3 else "pass")
    assert CheckResult.objects.filter(run=run).count() == 500
    with CaptureQueriesContext(connection) as many:
        response = client.get(URL)
    assert response.status_code == 200
    assert len(many) == len(one)


def test_the_standalone_review_still_renders_for_the_command_line(
    passing_run, release, environments
):  # type: ignore[no-untyped-def]
    from django.template.loader import render_to_string

    from checks.report import build_report

    html = render_to_string(
        "checks/report.html",
        {"report": build_report(release, environments["production"])},
    )
    assert html.startswith("<!doctype html>")
    assert "<strong>Overall Readiness Score:</strong> <strong>100.0/100</strong>" in html
    assert "{#" not in html
    assert "comment" not in html
