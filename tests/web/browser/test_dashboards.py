"""The timeline, the audit log, the backups page and the readiness review in a real Chromium,
against a live server holding the Liquor POS demo. (scripts/screenshots.py takes the pictures
of these pages for the README.)"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from audit.verification import chain_verification_record
from backups.models import RestoreDrill
from demo import loader

from .conftest import _test_database_url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server) -> str:  # type: ignore[no-untyped-def]
    loader.load(password="unused")  # the login fixture sets each user's test password
    return str(live_server.url)


def _person(username: str):  # type: ignore[no-untyped-def]
    return get_user_model().objects.get(username=username)


def test_filtering_the_timeline_keeps_the_filter_in_the_url(page, demo, login) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1280, "height": 900})
    login(_person("vic"))
    page.wait_for_url(f"{demo}/")
    page.goto(f"{demo}/projects/liquor-pos/deployments/")
    items = page.locator(".timeline-item")
    everything = items.count()
    assert "Staging" in page.locator(".timeline").inner_text()

    page.select_option("#id_environment", "production")
    page.wait_for_url("**/deployments/?*environment=production*")
    page.wait_for_function(f"document.querySelectorAll('.timeline-item').length < {everything}")
    history = page.locator(".timeline").inner_text()
    assert "Staging" not in history
    assert "Rolls back" in history  # the demo's automatic rollback of 0.9.1
    assert page.locator("h2#metrics-title").inner_text().endswith("Production")

    # Back: the unfiltered timeline again, from htmx's history.
    page.go_back()
    page.wait_for_function(f"document.querySelectorAll('.timeline-item').length == {everything}")
    assert "environment" not in page.url
    page.go_forward()
    page.wait_for_function(f"document.querySelectorAll('.timeline-item').length < {everything}")

    # A rollback links to the deployment it rolled back.
    page.locator(".timeline-item.rollback a", has_text="(0.9.1)").first.click()
    page.wait_for_url("**#deployment-*")
    target = page.url.rsplit("#", 1)[1]
    assert page.locator(f"#{target}").is_visible()
    assert "verification failed" in page.locator(f"#{target}").inner_text()


def test_filtering_and_exporting_the_audit_log(page, demo, login) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1280, "height": 900})
    chain_verification_record()  # what beat does every hour
    login(_person("vic"))
    page.wait_for_url(f"{demo}/")
    page.goto(f"{demo}/projects/liquor-pos/audit/")
    assert page.locator("#chain-status").inner_text().startswith("chain intact")

    page.fill("#id_action", "environment.")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/audit/?*action=environment.*")
    actions = page.locator(".audit-table td[data-label=Action]").all_inner_texts()
    assert actions
    assert all(a.startswith("environment.") for a in actions)

    with page.expect_download() as download_info:
        page.click("button[name=format][value=csv]")
    download = download_info.value
    assert download.suggested_filename.startswith("liquor-pos-audit-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert len(rows) == len(actions)
    assert {r["action"].split(".")[0] for r in rows} == {"environment"}

    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.actor == "vic"
    assert exported.after == {"format": "csv", "filters": {"action": "environment."}}

    # The export is in the log itself.
    page.fill("#id_action", "audit.exported")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**action=audit.exported*")
    assert page.locator(".audit-table tbody tr").count() == 1


def test_the_backups_page_and_the_readiness_review(page, demo, login, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # As `make run` on PostgreSQL does: pos-main names a database beside Preflight's own, so
    # drills can be started.
    monkeypatch.setenv("LIQUOR_POS_DATABASE_URL", _test_database_url() + "_liquor_pos")
    page.set_viewport_size({"width": 1280, "height": 900})
    login(_person("ana"))
    page.wait_for_url(f"{demo}/")
    page.goto(f"{demo}/projects/liquor-pos/backups/")
    panel = page.locator("#database-pos-main")
    assert "verified" in panel.inner_text()
    assert panel.locator("svg").count() == 2
    # Run a drill: the panel shows it queued and keeps asking until it ends (no worker runs
    # here, so it stays queued).
    with page.expect_request("**/backups/pos-main/") as polled:
        page.click("button:has-text('Run drill now')")
        page.wait_for_selector("button:has-text('queued')")
    assert polled.value.headers.get("hx-request") == "true"
    drill = RestoreDrill.objects.get(status="queued")
    assert drill.requested_by_label == "ana"
    assert page.locator("#messages").inner_text().startswith(f"Restore drill #{drill.pk}")

    page.goto(f"{demo}/projects/liquor-pos/releases/1.0.0/production/")
    page.click("a:has-text('Readiness review')")
    page.wait_for_url("**/report")
    assert "NOT READY FOR PRODUCTION" in page.locator("article.report").inner_text()
    page.set_viewport_size({"width": 1280, "height": 1300})  # the review runs to many pages
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert page.locator("article.report").is_visible()
    with page.expect_download() as download_info:
        page.emulate_media(media="screen")
        page.click("a:has-text('Download Markdown')")
    text = Path(download_info.value.path()).read_text()
    assert text.startswith("# Deployment Readiness Review")
