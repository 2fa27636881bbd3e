"""The timeline, the audit log, the backups page and the readiness review in a real Chromium,
against a live server holding the Liquor POS demo.

Set PREFLIGHT_SCREENSHOTS=1 to refresh docs/screenshots/ from these pages."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from preflight.demo import loader

# The live server runs in a thread beside Playwright's event loop; Django's guard against ORM
# calls from async code would otherwise refuse the test's own queries.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "demo-pw"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def demo(live_server) -> str:  # type: ignore[no-untyped-def]
    loader.load(password=PASSWORD)
    return str(live_server.url)


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _screenshot(page, name: str, *, full_page: bool = True) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("PREFLIGHT_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_filtering_the_timeline_keeps_the_filter_in_the_url(page, demo) -> None:  # type: ignore[no-untyped-def]
    _login(page, demo, "vic")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{demo}/projects/liquor-pos/deployments/")
    items = page.locator(".timeline-item")
    everything = items.count()
    assert "Staging" in page.locator(".timeline").inner_text()
    _screenshot(page, "timeline")

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


def test_filtering_and_exporting_the_audit_log(page, demo) -> None:  # type: ignore[no-untyped-def]
    _login(page, demo, "vic")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{demo}/projects/liquor-pos/audit/")
    assert page.locator("#chain-status").inner_text().startswith("chain intact")
    _screenshot(page, "audit")

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


def test_the_backups_page_and_the_readiness_review(page, demo) -> None:  # type: ignore[no-untyped-def]
    _login(page, demo, "ana")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{demo}/projects/liquor-pos/backups/")
    panel = page.locator("#database-pos-main")
    assert "verified" in panel.inner_text()
    assert panel.locator("svg").count() == 2
    assert page.locator("button:has-text('Run drill now')").is_visible()
    _screenshot(page, "backups")

    page.goto(f"{demo}/projects/liquor-pos/releases/1.0.0/production/")
    page.click("a:has-text('Readiness review')")
    page.wait_for_url("**/report")
    assert "NOT READY FOR PRODUCTION" in page.locator("article.report").inner_text()
    page.set_viewport_size({"width": 1280, "height": 1300})
    _screenshot(page, "report", full_page=False)  # the review runs to many pages
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert page.locator("article.report").is_visible()
    with page.expect_download() as download_info:
        page.emulate_media(media="screen")
        page.click("a:has-text('Download Markdown')")
    text = Path(download_info.value.path()).read_text()
    assert text.startswith("# Deployment Readiness Review")
