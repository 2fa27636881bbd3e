"""The audit log, the readiness review and the backups page say what is true, in a real
Chromium on a laptop (1366×900) and a phone (390×844): an auditor finds refused requests and
sign-ins and the table's header counts the rows it lists; a review lists the gaps fixed since
the last one under "Resolved"; without PostgreSQL the backups page explains what to set."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.verification import chain_verification_record
from backups.models import Database, RestoreDrill
from releases.models import Membership
from tests.factories import (
    CategoryFactory,
    CheckFactory,
    EnvironmentFactory,
    ProjectFactory,
    ReleaseFactory,
    ResultFactory,
    RunFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [
    pytest.param({"width": 1366, "height": 900}, id="laptop"),
    pytest.param({"width": 390, "height": 844}, id="phone"),
]


@pytest.fixture
def shop(live_server):  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="shop", name="Shop")
    production = EnvironmentFactory(project=project, slug="production", name="Production")
    Database.objects.create(project=project, name="main", dsn_env="SHOP_DATABASE_URL")
    return {"project": project, "production": production, "url": str(live_server.url)}


def _person(project, username: str, role: str, *, staff: bool = False):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username, is_staff=staff)
    Membership.objects.create(project=project, user=user, role=role)
    return user


def _no_horizontal_overflow(page) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), (
        page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    )


def _listed(page) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(the count the table's header states, the rows the table lists)."""
    header = page.locator("#listed-count").inner_text()
    match = re.match(r"(\d+) listed", header)
    assert match, header
    return int(match.group(1)), page.locator(".audit-table tbody tr").count()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_auditor_sees_a_refused_request_and_a_sign_in(page, shop, login, viewport) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(viewport)
    url = shop["url"]
    auditor = _person(shop["project"], "audrey", "viewer", staff=True)

    # A refused sign-in: the wrong password, through the form.
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill("audrey")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("form")
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()

    login(auditor)
    page.wait_for_url(f"{url}/")
    # A refused request: an auditor may not run a restore drill.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.post(
        f"{url}/projects/shop/backups/main/drills",
        headers={"X-CSRFToken": token, "Referer": f"{url}/projects/shop/backups/"},
    )
    assert refused.status == 403
    assert not RestoreDrill.objects.exists()
    chain_verification_record()  # what beat does every hour

    page.goto(f"{url}/audit/?outcome=denied")
    actions = page.locator(".audit-table td[data-label=Action]").all_inner_texts()
    assert "auth.login_failed" in actions
    assert "http.forbidden" in actions
    stated, rows = _listed(page)
    assert stated == rows == len(actions)
    # The chain's status stands apart from the rows and counts none of them.
    status = page.locator("#chain-status")
    assert status.inner_text().startswith("chain intact")
    assert "verified up to event #" in status.inner_text()
    assert page.locator("#log-body #chain-status").count() == 0
    _no_horizontal_overflow(page)

    page.goto(f"{url}/audit/")
    actions = page.locator(".audit-table td[data-label=Action]").all_inner_texts()
    assert "auth.login" in actions
    stated, rows = _listed(page)
    assert stated == rows == len(actions)
    _no_horizontal_overflow(page)


@pytest.fixture
def two_reviews(shop):  # type: ignore[no-untyped-def]
    """1.0.0 reviewed with two failing gaps; 1.1.0 fixes one of them."""
    project, production = shop["project"], shop["production"]
    category = CategoryFactory(project=project, key="scripts", name="Scripts", weight=100)
    gaps = [
        CheckFactory(
            project=project,
            category=category,
            code=code,
            severity=severity,
            title=title,
            section="Deployment Scripts",
            position=n,
        )
        for n, (code, severity, title) in enumerate(
            (
                ("DS-001", "critical", "No deploy.ps1 script exists"),
                ("DS-004", "high", "Hardcoded wait times"),
                ("DS-900", "low", "Logging with timestamps"),
            )
        )
    ]
    old = ReleaseFactory(project=project, version="1.0.0")
    old_run = RunFactory(
        release=old, environment=production, finished_at=timezone.now() - timedelta(days=9)
    )
    for check, status in zip(gaps, ("fail", "fail", "pass"), strict=True):
        ResultFactory(run=old_run, check_item=check, status=status)
    new = ReleaseFactory(project=project, version="1.1.0")
    new_run = RunFactory(release=new, environment=production)
    for check, status in zip(gaps, ("pass", "fail", "pass"), strict=True):
        ResultFactory(run=new_run, check_item=check, status=status)
    return shop


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_review_lists_the_gaps_fixed_since_the_last_one_as_resolved(
    page, two_reviews, login, viewport
) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(viewport)
    url = two_reviews["url"]
    login(_person(two_reviews["project"], "vic", "viewer"))
    page.wait_for_url(f"{url}/")
    page.goto(f"{url}/projects/shop/releases/1.1.0/production/report")
    part = page.locator("#review-section-1")
    assert part.locator("h2").inner_text() == "1. Deployment Scripts"
    resolved = part.locator("h3:has-text('Resolved since the last review') + p + ul")
    assert resolved.inner_text() == "DS-001: No deploy.ps1 script exists (was fail)"
    strengths = part.locator("h3:has-text('Strengths') + ul").inner_text()
    assert strengths == "Logging with timestamps"  # passed in 1.0.0 too; DS-001 is not here
    summary = page.locator("#review-summary").inner_text()
    assert "1 gap resolved since the last review (1.0.0, readiness run #" in summary
    _no_horizontal_overflow(page)

    # The print is the same document: every section is there, the layout is not.
    titles = page.locator("article.report h2").all_inner_texts()
    page.emulate_media(media="print")
    assert not page.locator("header.topbar").is_visible()
    assert page.locator("article.report h2").all_inner_texts() == titles
    assert all(page.locator("article.report h2").nth(i).is_visible() for i in range(len(titles)))
    page.emulate_media(media="screen")
    # And so is the Markdown download.
    with page.expect_download() as download_info:
        page.click("a:has-text('Download Markdown')")
    markdown = Path(download_info.value.path()).read_text()
    headings = re.findall(r"^## (.+)$", markdown, re.M)
    assert [h.casefold() for h in headings] == [t.casefold() for t in titles]
    assert "- **DS-001**: No deploy.ps1 script exists (was fail)" in markdown


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_without_postgresql_the_backups_page_explains_what_to_set(
    page, shop, login, viewport, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SHOP_DATABASE_URL", raising=False)  # the live server's own environment
    now = timezone.now()
    RestoreDrill.objects.create(  # its drills passed while it had PostgreSQL
        database=Database.objects.get(name="main"), status="passed", created_at=now,
        started_at=now, finished_at=now, restore_seconds=40.0,
    )  # fmt: skip
    page.set_viewport_size(viewport)
    url = shop["url"]
    login(_person(shop["project"], "ana", "approver"))
    page.wait_for_url(f"{url}/")
    page.goto(f"{url}/projects/shop/backups/")
    card = page.locator("#database-main .status-tile", has_text="Restore drills")
    text = card.inner_text()
    assert "Restore drills need PostgreSQL." in text
    assert "Set SHOP_DATABASE_URL to a postgres://… connection string" in text
    assert card.get_attribute("data-state") == "unavailable"  # not green, though the last passed
    assert page.locator("button:has-text('Run drill now')").count() == 0
    _no_horizontal_overflow(page)
    card.locator("a:has-text('docs/backups.md')").click()
    page.wait_for_url("**/docs/backups.md")
    assert "Restore drills need PostgreSQL" in page.locator("body").inner_text()
