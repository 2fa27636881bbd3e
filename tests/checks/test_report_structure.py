"""The review's structure: resolved gaps since the last review (never strengths), waived gaps
counted apart and marked, pending checklist items counted, the action wording, files from the
findings, the computed score beside the hand-assigned one; and the same sections and numbers
in Markdown and in HTML (both render one Document)."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from checks.kinds.repository.tree import Finding, judged
from checks.models import ReviewBaseline, Waiver
from checks.report import build_report, render_markdown
from checks.services.runs import stored_data

from ..factories import CategoryFactory, CheckFactory, ReleaseFactory, ResultFactory, RunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(project, environments, deployer, approver):  # type: ignore[no-untyped-def]
    """1.0.0 reviewed with three gaps; 1.1.0 fixes two of them, waives one, opens a new one."""
    staging = environments["staging"]
    scripts = CategoryFactory(project=project, key="scripts", name="Scripts", weight=60)
    data = CategoryFactory(project=project, key="data", name="Data", weight=40)

    positions = iter(range(100))

    def check(code, category, severity, **kw):  # type: ignore[no-untyped-def]
        return CheckFactory(
            project=project, category=category, code=code, severity=severity,
            position=next(positions), **kw,
        )  # fmt: skip

    checks = {
        "DS-001": check("DS-001", scripts, "critical", section="Deployment Scripts",
                        title="No deploy.ps1 script exists", action="Create and test deploy.ps1",
                        in_checklist=True),
        "DS-002": check("DS-002", scripts, "high", section="Deployment Scripts",
                        title="Hardcoded wait times"),
        "DS-003": check("DS-003", scripts, "medium", section="Deployment Scripts",
                        title="Logging with timestamps"),
        "BK-001": check("BK-001", data, "medium", section="Backups", title="No encryption",
                        action="Implement backup encryption"),
        "BK-002": check("BK-002", data, "low", section="Backups", title="No size limits",
                        action="Add backup size limits"),
        "DUR-01": check("DUR-01", scripts, "high", title="Enable maintenance mode",
                        phase="during", kind="manual", in_checklist=True),
    }  # fmt: skip
    old = ReleaseFactory(project=project, version="1.0.0", created_by=deployer)
    new = ReleaseFactory(project=project, version="1.1.0", created_by=deployer)
    old_run = RunFactory(release=old, environment=staging)
    for code, status in (("DS-001", "fail"), ("DS-002", "fail"), ("DS-003", "pass"),
                         ("BK-001", "fail"), ("BK-002", "pass")):  # fmt: skip
        ResultFactory(run=old_run, check_item=checks[code], status=status)
    new_run = RunFactory(release=new, environment=staging)
    for code, status, data_ in (
        ("DS-001", "pass", {}),
        ("DS-002", "pass", {}),
        ("DS-003", "pass", {}),
        ("BK-001", "fail", {}),
        ("BK-002", "fail", {"findings": [{"file": "backup.sh", "line": 12, "message": "no cap"},
                                          {"file": "deploy.ps1", "line": None, "message": "missing"}]}),
    ):  # fmt: skip
        ResultFactory(run=new_run, check_item=checks[code], status=status, data=data_)
    Waiver.objects.create(
        release=new, check_item=checks["BK-001"], reason="Encrypted at rest by the disk",
        created_by=approver, expires_at=timezone.now() + timedelta(days=10),
    )  # fmt: skip
    return {"old": old, "new": new, "staging": staging, "checks": checks}


def test_gaps_that_pass_now_are_resolved_since_the_last_review_never_strengths(reviewed):
    report = build_report(reviewed["new"], reviewed["staging"])
    scripts = next(s for s in report.sections if s.name == "Deployment Scripts")
    assert [(r.check.code, was) for r, was in scripts.resolved] == [
        ("DS-001", "fail"),
        ("DS-002", "fail"),
    ]
    assert [s.check.code for s in scripts.strengths] == ["DS-003"]  # passed then too
    assert report.previous_run is not None
    assert report.previous_run.release == reviewed["old"]

    part = report.document.section("section-1")
    markdown = render_markdown(report)
    resolved = markdown.split("### Resolved since the last review", 1)[1].split("###", 1)[0]
    assert "**DS-001**: No deploy.ps1 script exists (was fail)" in resolved
    strengths = markdown.split("### Strengths", 1)[1].split("---", 1)[0]
    assert "deploy.ps1" not in strengths
    assert part.title == "1. Deployment Scripts"
    assert "**2 gaps resolved since the last review** (1.0.0, readiness run #" in markdown


def test_the_first_review_has_no_resolved_section(reviewed):
    report = build_report(reviewed["old"], reviewed["staging"])
    assert report.previous_run is None
    assert "Resolved since the last review" not in render_markdown(report)


def test_waived_gaps_are_counted_apart_and_marked(reviewed):
    report = build_report(reviewed["new"], reviewed["staging"])
    total = report.risk_total
    assert total is not None
    assert (total.total, total.waived, total.counts["low"], total.counts["medium"]) == (1, 1, 1, 0)
    markdown = render_markdown(report)
    assert "**1 waived gap** (BK-001): accepted risks" in markdown
    assert "| Backups | 0 | 0 | 0 | 1 | 1 | 0 | 1 |" in markdown
    medium = markdown.split("## MEDIUM-PRIORITY IMPROVEMENTS", 1)[1].split("---", 1)[0]
    until = f"{timezone.now() + timedelta(days=10):%Y-%m-%d}"
    assert (
        f"1. **BK-001**: Implement backup encryption (waived until {until}: not counted)" in medium
    )


def test_pending_checklist_items_are_counted_in_the_summary(reviewed):
    markdown = render_markdown(build_report(reviewed["new"], reviewed["staging"]))
    assert "**Deployment checklist:** 1 of 2 items done, 1 pending." in markdown
    assert "- [ ] **DUR-01**: Enable maintenance mode (pending)" in markdown
    assert "Complete the 1 pending checklist item." in markdown


def test_priorities_and_checklists_use_the_action_wording_falling_back_to_the_title(reviewed):
    markdown = render_markdown(build_report(reviewed["new"], reviewed["staging"]))
    low = markdown.split("## LOW-PRIORITY ENHANCEMENTS", 1)[1].split("---", 1)[0]
    assert "1. **BK-002**: Add backup size limits" in low
    assert "- [x] **DS-001**: Create and test deploy.ps1" in markdown
    assert "- [ ] **DUR-01**: Enable maintenance mode" in markdown  # no action: the title


def test_files_requiring_attention_come_from_the_findings(reviewed):
    markdown = render_markdown(build_report(reviewed["new"], reviewed["staging"]))
    files = markdown.split("## FILES REQUIRING IMMEDIATE ATTENTION", 1)[1].split("---", 1)[0]
    assert "### Files to create\n\n1. `deploy.ps1` - missing (BK-002)" in files
    assert "### Files to update\n\n1. `backup.sh` - line 12: no cap (BK-002)" in files


def test_a_rule_outcome_keeps_its_findings_in_the_stored_data():
    outcome = judged("fail", "Sleeps", [Finding("deploy.sh", 4, "sleep 5")], data={"n": 1})
    assert stored_data(outcome) == {
        "n": 1,
        "findings": [{"file": "deploy.sh", "line": 4, "message": "sleep 5"}],
    }


def test_the_computed_score_is_explained_against_the_hand_assigned_one(reviewed, project):
    ReviewBaseline.objects.create(
        project=project, date=date(2026, 1, 5), score=Decimal("54.5"),
        categories={"scripts": "60.0"},
    )  # fmt: skip
    report = build_report(reviewed["new"], reviewed["staging"])
    assert report.score is not None
    markdown = render_markdown(report)
    difference = report.score - Decimal("54.5")
    assert (
        f"The hand-written review of January 5, 2026 gave 54.5/100. Preflight computes "
        f"{report.score}/100 from this run's 5 results with the formula above, "
        f"{abs(difference):.1f} {'higher' if difference > 0 else 'lower'}."
    ) in markdown
    scripts = next(r for r in report.breakdown if r.key == "scripts")
    assert f"| Scripts | 60.0/100 | {scripts.score}/100 | {scripts.score - 60:+.1f} |" in markdown


def test_without_review_figures_there_is_no_comparison(reviewed):
    assert "hand-written review" not in render_markdown(
        build_report(reviewed["new"], reviewed["staging"])
    )


def _numbers(value: str) -> Counter[str]:
    return Counter(re.findall(r"\d+(?:\.\d+)?", value))


def _markdown_sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", markdown, flags=re.M)
    sections = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        # An ordered list's "1." is the list's own numbering, which HTML draws itself.
        body = re.sub(r"^\d+\. ", "", body, flags=re.M)
        sections[title.strip().casefold()] = body.split("\n---\n", 1)[0]
    return sections


def _html_sections(page: str) -> dict[str, str]:
    found = re.findall(
        r'<section class="review-section"[^>]*>\s*<h2[^>]*>(.*?)</h2>(.*?)</section>', page, re.S
    )
    return {
        html.unescape(title).casefold(): html.unescape(re.sub(r"<[^>]+>", " ", body))
        for title, body in found
    }


def test_markdown_and_html_have_the_same_sections_and_numbers(reviewed, project):
    ReviewBaseline.objects.create(project=project, date=date(2026, 1, 5), score=Decimal("54.5"))
    report = build_report(reviewed["new"], reviewed["staging"])
    markdown = _markdown_sections(render_markdown(report))
    page = _html_sections(render_to_string("checks/report.html", {"report": report}))
    assert list(markdown) == list(page)
    assert "resolved" not in " ".join(markdown)  # the resolved gaps are inside their sections
    assert list(markdown)[:3] == ["executive summary", "1. deployment scripts", "2. backups"]
    for title in (
        "risk summary by category",
        "critical blockers (must fix before production)",
        "recommended deployment checklist",
        "files requiring immediate attention",
        "deployment readiness score breakdown",
        "recommendations",
        "approvals and waivers",
        "conclusion",
    ):
        assert title in markdown
    for title in markdown:
        assert _numbers(markdown[title]) == _numbers(page[title]), title
