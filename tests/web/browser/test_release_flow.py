"""The dashboard in a real browser: what a release manager does on a release page."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from checks.models import ManualTick
from releases.models import Approval, Deployment, Lock, Membership
from tests.factories import CategoryFactory, CheckFactory, DeploymentFactory, ResultFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def release_path(env: str) -> str:
    return f"/projects/shop/releases/1.0.0/{env}/"


def test_logging_in_leads_to_the_overview(login, viewer, release, environments, page: Page):
    login(viewer)
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.get_by_role("link", name="Shop")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Preflight")).to_be_visible()


@pytest.mark.worker
def test_a_run_shows_results_as_they_arrive_and_the_score_settles(
    login, deployer, release, environments, slow_service, celery_worker, page: Page
):
    category = CategoryFactory(project=release.project, key="service", weight=100)
    for n, status in enumerate([200, 200, 200, 500], start=1):
        CheckFactory(
            project=release.project,
            category=category,
            code=f"HTTP-00{n}",
            kind="http",
            severity="high",
            config={"url": f"{slow_service}/1000/{status}", "expected_status": 200},
        )
    login(deployer, release_path("development"))
    page.get_by_role("button", name="Run readiness checks").click()

    # While the run goes: the progress line and the first results, the score provisional.
    expect(page.get_by_text("checks evaluated; results appear as they arrive")).to_be_visible()
    expect(page.locator("#checks .badge.pass").first).to_be_visible(timeout=15_000)
    # No score for a run that has not finished: what has arrived so far is not one.
    assert page.locator("#score-value").text_content() == "running…"

    # The run ends: the score settles at 3 of 4 high checks passing, and polling stops.
    expect(page.locator("#run .badge.finished")).to_be_visible(timeout=30_000)
    expect(page.locator("#score-value")).to_have_text("75.0")
    expect(page.locator("#checks .badge.fail")).to_have_count(1)
    expect(page.locator("#gate-state")).to_have_text("Gate open")  # development needs 50
    expect(page.locator("[hx-trigger='every 1s']")).to_have_count(0)


def test_ticking_a_checklist_item(login, deployer, release, passing_run, page: Page):
    CheckFactory(
        project=release.project,
        code="MAN-001",
        title="Announce the maintenance window",
        kind="manual",
        in_checklist=True,
        phase="pre-deploy-day",
    )
    login(deployer, release_path("production"))
    item = page.locator("#checklists li", has_text="MAN-001")
    expect(item.locator(".badge")).to_have_text("to do")
    item.get_by_text("Tick MAN-001").click()
    item.get_by_label("Note").fill("Posted in #stores")
    item.get_by_label("Evidence link").fill("https://chat.example/msg/1")
    item.get_by_role("button", name="Mark done").click()

    item = page.locator("#checklists li", has_text="MAN-001")
    expect(item.locator(".badge")).to_have_text("done")
    expect(item).to_contain_text("Ticked by dana")
    expect(item.get_by_role("status")).to_have_text("MAN-001 ticked.")
    assert ManualTick.objects.get().evidence_url == "https://chat.example/msg/1"


@pytest.fixture
def production_ready(release, passing_run, environments):  # type: ignore[no-untyped-def]
    """1.0.0 passed every check and reached staging: only approvals keep production shut."""
    DeploymentFactory(release=release, environment=environments["staging"], status="verified")
    return environments["production"]


def test_two_approvers_open_the_gate_and_the_creator_is_refused(
    login, approver, approver2, deployer, production_ready, browser, page: Page
):
    # The creator, even as an approver, is told why they cannot approve.
    Membership.objects.filter(user=deployer).update(role="approver")
    creator_page = browser.new_page()
    login(deployer, release_path("production"), creator_page)
    expect(creator_page.locator("#approval-refusal")).to_contain_text(
        "under the four-eyes rule someone else must approve it"
    )
    expect(creator_page.get_by_role("button", name="Approve")).to_have_count(0)
    creator_page.close()

    login(approver, release_path("production"))
    expect(page.locator("#gate-state")).to_have_text("Gate closed")
    page.get_by_label("Comment").fill("Checks are green")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#approvals")).to_contain_text("1 of 2")
    expect(page.locator("#blockers")).to_contain_text("1 more needed")

    second = browser.new_page()
    login(approver2, release_path("production"), second)
    second.get_by_role("button", name="Approve").click()
    expect(second.locator("#approvals")).to_contain_text("2 of 2")
    expect(second.locator("#gate-state")).to_have_text("Gate open")
    expect(second.get_by_text("Yes — the gate is open.")).to_be_visible()
    second.close()
    assert Approval.objects.count() == 2


def test_deploying_asks_for_confirmation(login, deployer, passing_run, page: Page):
    login(deployer, release_path("development"))
    confirm = page.get_by_label("Yes, deploy 1.0.0 to Development")
    page.get_by_role("button", name="Deploy 1.0.0 to Development").click()
    # Unconfirmed, the browser does not send the form (the server would refuse it too).
    assert confirm.evaluate("box => box.matches(':invalid')")
    assert not Deployment.objects.exists()

    confirm.check()
    page.get_by_role("button", name="Deploy 1.0.0 to Development").click()
    expect(page.locator("#history")).to_contain_text("in progress")
    expect(page.locator("#decision-notice")).to_contain_text("started")
    deployment = Deployment.objects.get()
    assert deployment.environment.slug == "development"

    page.get_by_role("button", name="Mark succeeded").click()
    # Succeeded, then verified once the post-deploy checks (none here) conclude.
    expect(page.locator("#history .badge").first).to_have_text(
        re.compile("succeeded|verified", re.IGNORECASE)
    )


def test_approving_with_the_keyboard_only(login, approver, production_ready, page: Page):
    production_ready.required_approvals = 1
    production_ready.min_score = Decimal(80)
    production_ready.save()
    login(approver, release_path("production"))
    # Tab through the page until the Approve button has focus, then press Enter.
    for _ in range(150):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement && document.activeElement.textContent")
        if focused and focused.strip() == "Approve":
            break
    else:
        pytest.fail("The Approve button cannot be reached with the Tab key.")
    page.keyboard.press("Enter")
    expect(page.locator("#gate-state")).to_have_text("Gate open")
    assert Approval.objects.get().approver == approver


def test_a_rejection_without_a_reason_is_explained_in_place(
    login, approver, production_ready, page: Page
):
    login(approver, release_path("production"))
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#decision")).to_contain_text("Say why you reject the release.")
    expect(page.get_by_label("Comment")).to_have_attribute("aria-invalid", "true")
    # The error came back into the page: no reload happened.
    assert page.evaluate("window.notReloaded") is True
    assert not Approval.objects.exists()


def test_an_admin_locks_and_unlocks_from_the_pipeline(login, admin, environments, page: Page):
    login(admin, "/projects/shop/")
    stage = page.locator("#stage-production")
    stage.get_by_text("Lock Production", exact=True).click()
    stage.get_by_role("button", name="Lock").click()  # no reason: the browser asks for one
    assert not Lock.objects.exists()
    stage.get_by_label("Reason").first.fill("Database upgrade tonight")
    stage.get_by_role("button", name="Lock").click()
    expect(stage).to_contain_text("locked by root")
    expect(stage.get_by_role("status")).to_have_text("Production is locked.")
    expect(stage).to_be_focused()
    stage.get_by_role("button", name="Unlock Production").click()
    expect(stage.get_by_text("Lock Production", exact=True)).to_be_visible()
    assert not Lock.objects.active().exists()


def test_a_refusal_is_shown_with_its_reason(login, approver, production_ready, page: Page):
    login(approver, release_path("production"))
    # The role changes while the page is open; the server, not the page, decides.
    Membership.objects.filter(user=approver).update(role="viewer")
    page.get_by_role("button", name="Approve").click()
    # Said beside the form it came from, which takes the focus.
    refusal = page.locator("#approvals form [data-request-error]")
    expect(refusal).to_contain_text("may not approve releases in shop")
    expect(refusal).to_be_focused()
    assert not Approval.objects.exists()


def test_filters_live_in_the_address_and_the_back_button_undoes_them(
    login, viewer, release, passing_run, page: Page
):
    failing = CheckFactory(project=release.project, code="BAD-001", severity="high")
    ResultFactory(run=passing_run["production"], check_item=failing, status="fail")
    login(viewer, release_path("production"))
    checks = page.locator("#checks")
    expect(checks).to_contain_text("OK-001")
    page.get_by_label("Status").select_option("failing")
    expect(page).to_have_url(re.compile(r"status=failing"))
    expect(checks).not_to_contain_text("OK-001")
    expect(checks).to_contain_text("BAD-001")

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"status="))
    expect(page.locator("#checks")).to_contain_text("OK-001")

    # The filtered address, opened afresh (a bookmark), shows the filtered list.
    page.goto(page.url.split("?")[0] + "?status=failing")
    expect(page.locator("#checks")).not_to_contain_text("OK-001")


def test_a_creators_critical_tick_waits_for_a_second_persons_attestation(
    login, deployer, approver2, approved, browser, page: Page
):
    # dana registered 1.0.0 and ticks the critical C-001 herself: it stops counting, and ana's
    # approval, given when ben's tick made it pass, goes stale naming it.
    login(deployer, release_path("staging"))
    item = page.locator("#checklists li", has_text="C-001")
    item.get_by_text("Untick C-001", exact=True).click()
    item.get_by_role("button", name="Untick").click()
    item = page.locator("#checklists li", has_text="C-001")
    expect(item.locator(".badge")).to_have_text("to do")
    item.get_by_text("Tick C-001", exact=True).click()
    item.get_by_label("Note").fill("Rehearsed the rollback")
    item.get_by_role("button", name="Mark done").click()
    item = page.locator("#checklists li", has_text="C-001")
    expect(item.locator(".badge")).to_have_text("awaiting attestation")
    expect(item.get_by_text("Attest C-001")).to_have_count(0)
    expect(page.locator("#stale-approvals")).to_contain_text(
        "Approval by ana is stale: score 100.0 → 55.6; C-001 pass → pending"
    )
    expect(page.locator("#gate-state")).to_have_text("Gate closed")

    second = browser.new_page()
    login(approver2, release_path("staging"), second)
    item = second.locator("#checklists li", has_text="C-001")
    item.get_by_text("Attest C-001", exact=True).click()
    item.get_by_label("What you checked").fill("Watched it on the staging console")
    item.get_by_role("button", name="Attest this tick").click()
    item = second.locator("#checklists li", has_text="C-001")
    expect(item.locator(".badge")).to_have_text("done")
    expect(item).to_contain_text("Attested by ben")
    expect(second.locator(f"#check-{approved.checks['C-001'].pk}")).to_contain_text(
        "Source: by dana, attested by ben"
    )
    expect(second.locator("#stale-approvals")).to_have_count(0)
    expect(second.locator("#gate-state")).to_have_text("Gate open")
    second.close()
