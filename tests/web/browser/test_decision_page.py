"""The release page as a decision page, in a real Chromium at a desktop's and a phone's width:
the action is near the verdict, an action keeps the user where they were, a rollback is
shown everywhere, and the keyboard gets to the decision in a few presses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from checks.models import ManualTick
from releases.models import Approval, Deployment, Lock, Release
from tests.factories import CategoryFactory, CheckFactory, DeploymentFactory, ResultFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
WIDTHS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]
# Tab presses allowed from the decision (after the skip link) to the action.
FEW_TABS = 10


def release_path(env: str, version: str = "1.0.0") -> str:
    return f"/projects/shop/releases/{version}/{env}/"


@pytest.fixture
def long_page(release, passing_run, environments):  # type: ignore[no-untyped-def]
    """1.0.0 passed its checks and reached staging, so only approvals keep production shut;
    its page is long: 40 checks in four categories and 36 checklist items."""
    DeploymentFactory(release=release, environment=environments["staging"], status="verified")
    production = environments["production"]
    production.required_approvals = 1
    production.save()
    for n in range(4):
        category = CategoryFactory(project=release.project, key=f"area-{n}", weight=0)
        for m in range(10):
            check = CheckFactory(
                project=release.project,
                category=category,
                code=f"A{n}-{m:03}",
                severity="low",
                title=f"A readiness check with a title of some length, number {n}-{m}",
            )
            ResultFactory(
                run=passing_run["production"], check_item=check, status="pass", detail="fine"
            )
    items = [
        CheckFactory(
            project=release.project,
            code=f"CL-{n:03}",
            title=f"Checklist item {n}: something a person does while deploying",
            kind="manual",
            in_checklist=True,
            phase="during",
            position=1000 + n,
        )
        for n in range(36)
    ]
    return items


def focused_text(page: Page) -> str:
    return page.evaluate(
        "(document.activeElement && (document.activeElement.innerText || '')).trim()"
    )


@pytest.mark.parametrize("viewport", WIDTHS)
def test_the_approver_reaches_approve_within_one_screen_of_the_verdict(
    login, approver, long_page, page: Page, viewport
):
    page.set_viewport_size(viewport)
    login(approver, release_path("production"))
    verdict = page.locator("#verdict")
    approve = page.get_by_role("button", name="Approve", exact=True)
    expect(verdict).to_contain_text("Not yet — the gate is closed")
    verdict_box, approve_box = verdict.bounding_box(), approve.bounding_box()
    assert verdict_box is not None
    assert approve_box is not None
    assert approve_box["y"] + approve_box["height"] - verdict_box["y"] <= viewport["height"]
    # And the decision comes before the details: the checks start below the button.
    checks_box = page.locator("#checks").bounding_box()
    assert checks_box is not None
    assert checks_box["y"] > approve_box["y"]


@pytest.mark.parametrize("viewport", WIDTHS)
def test_ticking_keeps_the_item_in_view_with_focus_and_its_message(
    login, deployer, long_page, page: Page, viewport
):
    page.set_viewport_size(viewport)
    login(deployer, release_path("production"))
    check = long_page[20]
    item = page.locator(f"#item-{check.pk}")
    item.scroll_into_view_if_needed()
    item.get_by_text(f"Tick {check.code}").click()
    item.get_by_label("Note").fill("Done on the till")
    before = page.evaluate("window.scrollY")
    item.get_by_role("button", name="Mark done").click()

    expect(item.locator(".badge").first).to_have_text("done")
    expect(item.get_by_role("status")).to_have_text(f"{check.code} ticked.")
    expect(item).to_be_focused()
    box = item.bounding_box()
    assert box is not None
    assert 0 <= box["y"] < viewport["height"]
    # The page did not jump: the user is where they were.
    assert abs(page.evaluate("window.scrollY") - before) < viewport["height"] / 2
    assert ManualTick.objects.get().check_item == check


def test_unticking_says_first_which_approvals_it_would_make_stale(
    login, deployer, approved, page: Page
):
    login(deployer, release_path("staging"))
    item = page.locator("#checklists .tick-list > li", has_text="M-001")
    item.get_by_text("Untick M-001", exact=True).click()
    warning = item.locator(".untick-warning")
    expect(warning).to_contain_text("Unticking M-001 makes an approval stale")
    expect(warning).to_contain_text("ana's (score 100.0 → ")
    expect(warning).to_contain_text("M-001 pass → pending)")
    assert Approval.objects.count() == 1  # nothing happened yet
    item.get_by_role("button", name="Untick anyway").click()
    expect(page.locator("#stale-approvals")).to_contain_text("Approval by ana is stale")
    expect(page.locator("#gate-state")).to_have_text("Gate closed")


@pytest.fixture
def rolled_out(project, release, environments, deployer, admin):  # type: ignore[no-untyped-def]
    """0.9.0 went well in staging; 1.0.0 was deployed there after it and verified."""
    older = Release.objects.create(
        project=project,
        version="0.9.0",
        git_sha="abcdef1",
        created_at=timezone.now() - timedelta(days=3),
    )
    staging = environments["staging"]
    DeploymentFactory(
        release=older,
        environment=staging,
        status="verified",
        started_at=timezone.now() - timedelta(days=2),
    )
    return DeploymentFactory(
        release=release,
        environment=staging,
        status="verified",
        started_at=timezone.now() - timedelta(days=1),
    )


def test_a_deployer_rolls_back_and_every_page_shows_it(
    login, deployer, rolled_out, live_server, page: Page
):
    page.set_viewport_size(DESKTOP)
    login(deployer, release_path("staging"))
    decision = page.locator("#decision")
    expect(decision.locator("#state-line")).to_contain_text("deployed to Staging and verified")
    decision.get_by_text("Roll back Staging to 0.9.0").click()
    decision.get_by_role("button", name="Roll back to 0.9.0").click()  # unconfirmed: refused
    assert not Deployment.objects.filter(rollback_of__isnull=False).exists()
    decision.get_by_label("Why roll back?").fill("Card payments fail at the till")
    decision.get_by_label("Yes, roll Staging back to 0.9.0").check()
    decision.get_by_role("button", name="Roll back to 0.9.0").click()

    notice = page.locator("#decision-notice")
    expect(notice).to_contain_text("Rollback #")
    rollback = Deployment.objects.get(rollback_of=rolled_out)
    expect(notice).to_contain_text(f"Rollback #{rollback.pk} started")
    expect(notice).to_be_focused()
    expect(decision.locator("#state-line .badge")).to_have_text("rolled back")
    lock = page.locator("#lock-notice")
    expect(lock).to_contain_text("Staging is locked by dana")
    expect(lock).to_contain_text("Only a project admin (root) can lift it")
    expect(page.locator("#env-nav a[aria-current] .badge")).to_have_text("rolled back")
    expect(page.locator(f"#deployment-{rolled_out.pk}")).to_contain_text(
        f"rolled back by #{rollback.pk} to 0.9.0"
    )
    assert Lock.objects.active().get().deployment == rollback

    page.goto(f"{live_server.url}/projects/shop/")
    cell = page.locator(f"#cell-{rolled_out.release_id}-staging")
    expect(cell.locator(".badge")).to_have_text("rolled back")
    expect(page.locator("#stage-staging")).to_contain_text(f"Set by rollback #{rollback.pk}")
    cell.get_by_role("link").click()
    expect(page.locator("#decision h2")).to_have_text("1.0.0 was rolled back in Staging")

    page.goto(f"{live_server.url}/projects/shop/deployments/")
    expect(page.locator(f"#deployment-{rolled_out.pk}")).to_contain_text("rolled back")
    expect(page.locator(f"#deployment-{rollback.pk}")).to_contain_text("Rolls back")


def test_approving_with_the_keyboard_takes_the_skip_link_and_a_few_tabs(
    login, approver, long_page, page: Page
):
    page.set_viewport_size(DESKTOP)
    login(approver, release_path("production"))
    page.keyboard.press("Tab")
    assert focused_text(page) == "Skip to the decision"
    page.keyboard.press("Enter")
    for _ in range(FEW_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "id_approval_comment":
            page.keyboard.type("Green across the board")
        if focused_text(page) == "Approve":
            break
    else:
        pytest.fail(f"Approve is not reached in {FEW_TABS} presses of Tab after the skip link.")
    page.keyboard.press("Enter")
    expect(page.locator("#gate-state")).to_have_text("Gate open")
    expect(page.locator("#decision-notice")).to_be_focused()
    assert Approval.objects.get().comment == "Green across the board"


def test_rolling_back_with_the_keyboard_takes_the_skip_link_and_a_few_tabs(
    login, deployer, rolled_out, page: Page
):
    page.set_viewport_size(PHONE)
    login(deployer, release_path("staging"))
    page.keyboard.press("Tab")
    assert focused_text(page) == "Skip to the decision"
    page.keyboard.press("Enter")
    tabs = 0

    def tab_to(text: str) -> None:
        nonlocal tabs
        for _ in range(FEW_TABS):
            page.keyboard.press("Tab")
            tabs += 1
            if focused_text(page) == text or page.evaluate("document.activeElement.id") == text:
                return
        pytest.fail(f"{text!r} is not reached with the Tab key.")

    tab_to("Roll back Staging to 0.9.0")
    page.keyboard.press("Enter")  # opens the form
    tab_to("id_rollback_reason")
    page.keyboard.type("Card payments fail")
    tab_to("id_rollback_confirm")
    page.keyboard.press("Space")
    tab_to("Roll back to 0.9.0")
    page.keyboard.press("Enter")
    expect(page.locator("#decision-notice")).to_contain_text("Rollback #")
    assert Deployment.objects.filter(rollback_of=rolled_out).exists()
    assert tabs <= FEW_TABS


@pytest.mark.parametrize("viewport", WIDTHS)
def test_a_very_long_unbroken_text_wraps_instead_of_widening_the_page(
    login, approver, long_page, release, page: Page, viewport
):
    """A 10,000-character waiver reason (recorded before there were limits) made the page
    92,850 px wide."""
    from checks.models import Waiver

    failing = CheckFactory(project=release.project, code="LONG-001", severity="low")
    Waiver.objects.create(
        release=release,
        check_item=failing,
        reason="x" * 10_000,
        expires_at=timezone.now() + timedelta(days=3),
        created_by=approver,
    )
    release.notes = "https://ci.example/" + "y" * 3_000
    release.save()
    page.set_viewport_size(viewport)
    login(approver, release_path("production"))
    expect(page.locator("#waivers")).to_contain_text("LONG-001")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"]


def test_every_label_of_the_weekly_charts_fits_inside_its_chart(
    login, viewer, rolled_out, live_server, page: Page
):
    page.set_viewport_size(DESKTOP)
    login(viewer, "/projects/shop/deployments/?window=90")
    charts = page.locator(".chart svg")
    expect(charts.first).to_be_visible()
    outside = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].flatMap(svg => {
            const width = svg.viewBox.baseVal.width;
            return [...svg.querySelectorAll('text')].map(t => t.getBBox())
              .filter(b => b.x < 0 || b.x + b.width > width + 0.5)
              .map(b => [b.x, b.width, width]);
        })"""
    )
    assert outside == []
