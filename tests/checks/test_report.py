"""The readiness report on small runs: what it says without a run, when weights renormalise,
waivers and the gate's reasons; and its query count does not grow with the run."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks.models import Waiver
from checks.report import build_report, render_markdown

from ..factories import CategoryFactory, CheckFactory, ResultFactory, RunFactory

pytestmark = pytest.mark.django_db


def test_without_a_finished_run_the_report_says_so(release, environments):
    markdown = render_markdown(build_report(release, environments["staging"]))
    assert "No readiness run of 1.0.0 for Staging has finished yet" in markdown
    assert "NOT READY FOR STAGING" in markdown


def test_a_category_without_checks_is_left_out_and_the_report_says_how(
    release, environments, approver
):
    project = release.project
    counted = CategoryFactory(project=project, key="counted", name="Counted", weight=60)
    CategoryFactory(project=project, key="empty", name="Empty", weight=40)
    run = RunFactory(release=release, environment=environments["staging"])
    passing = CheckFactory(project=project, category=counted, code="A-001", severity="high")
    failing = CheckFactory(
        project=project, category=counted, code="A-002", severity="low", section="Ops"
    )
    ResultFactory(run=run, check_item=passing, status="pass")
    ResultFactory(run=run, check_item=failing, status="fail")
    Waiver.objects.create(
        release=release, check_item=failing, reason="Known, harmless", created_by=approver,
        expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    report = build_report(release, environments["staging"])
    assert report.score == Decimal("100.0")
    markdown = render_markdown(report)
    assert "| Empty | no applicable checks | 40% | — |" in markdown
    assert (
        "Only 60% of the weight has applicable checks; the total is divided by 60, not 100."
        in markdown
    )
    assert "| A-002 | ana |" in markdown  # the waiver in force
    assert "This review identifies **0 gaps**" in markdown
    assert "- 0 of 1 required approvals; 1 more needed." in markdown


def test_the_report_costs_the_same_queries_for_1_or_many_checks(project, environments, deployer):
    from ..factories import ReleaseFactory

    category = CategoryFactory(project=project, key="all", weight=100)

    def report_queries(count: int) -> int:
        release = ReleaseFactory(project=project, created_by=deployer)
        run = RunFactory(release=release, environment=environments["staging"])
        for n in range(count):
            check = CheckFactory(project=project, category=category, in_checklist=n % 2 == 0)
            ResultFactory(run=run, check_item=check, status=("pass", "fail", "pending")[n % 3])
        with CaptureQueriesContext(connection) as captured:
            render_markdown(build_report(release, environments["staging"]))
        return len(captured)

    # Each release after the first has a last review (the run of the one before) to compare.
    report_queries(1)
    assert report_queries(1) == report_queries(60)


def test_the_command_names_what_it_cannot_find(release, environments):
    with pytest.raises(CommandError, match=r"No release '9\.9\.9'"):
        call_command("readiness_report", "shop", "9.9.9", "staging")
    with pytest.raises(
        CommandError, match=r"No environment 'qa'.*known: development, staging, production"
    ):
        call_command("readiness_report", "shop", "1.0.0", "qa")
    out = StringIO()
    call_command("readiness_report", "shop", "1.0.0", "staging", stdout=out)
    assert out.getvalue().startswith("# Deployment Readiness Review")


def test_a_checklist_item_the_creator_ticked_is_done_only_once_attested(
    release, environments, deployer, approver2
):
    from checks.models import Attestation, ManualTick

    project, staging = release.project, environments["staging"]
    category = CategoryFactory(project=project, key="all", weight=100)
    ResultFactory(
        run=RunFactory(release=release, environment=staging),
        check_item=CheckFactory(project=project, category=category),
    )
    during = CheckFactory(
        project=project, category=category, code="DUR-001", kind="manual", severity="critical",
        phase="during", in_checklist=True,
    )  # fmt: skip
    tick = ManualTick.objects.create(
        release=release, environment=staging, check_item=during, ticked_by=deployer
    )

    def item():  # type: ignore[no-untyped-def]
        report = build_report(release, staging)
        return next(i for _, items in report.checklists for i in items if i.code == "DUR-001")

    assert (item().done, item().status) == (False, "pending")
    Attestation.objects.create(tick=tick, attested_by=approver2)
    assert (item().done, item().status) == (True, "pass")
