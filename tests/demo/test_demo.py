"""The Liquor POS demo reproduces the readiness review of 2026-01-05: every gap with its
severity and section, the risk summary table exactly, the six weighted categories of its score
breakdown; the generated report agrees with itself; loading twice changes nothing."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from audit.models import AuditEvent
from checks.evaluation import evaluate
from checks.gate import evaluate_gate
from checks.models import Category, Check, CheckResult, ManualTick, ReadinessRun, Waiver
from checks.report import build_report
from releases.models import Approval, Deployment, Environment, Lock, Project, Release

pytestmark = pytest.mark.django_db

# The review's gap tables: code → severity, 41 in all.
REVIEW_GAPS = {
    "DS-001": "critical", "DS-002": "critical", "DS-003": "critical", "DS-004": "high",
    "DS-005": "high", "DS-006": "high", "DS-007": "high", "DS-008": "high", "DS-009": "medium",
    "DS-010": "medium", "DS-011": "medium", "RB-001": "high", "RB-002": "high", "RB-003": "high",
    "RB-004": "medium", "RB-005": "medium", "MG-001": "critical", "MG-002": "high",
    "MG-003": "high", "MG-004": "medium", "MG-005": "medium", "BK-001": "high", "BK-002": "high",
    "BK-003": "high", "BK-004": "medium", "BK-005": "medium", "BK-006": "low", "BK-007": "low",
    "DK-001": "medium", "DK-002": "medium", "DK-003": "medium", "DK-004": "low", "DK-005": "low",
    "ENV-001": "high", "ENV-002": "high", "ENV-003": "low", "CI-001": "critical",
    "CI-002": "critical", "CI-003": "critical", "MON-001": "medium", "MON-002": "medium",
}  # fmt: skip
# The review's "Risk summary by category": section, critical, high, medium, low, total.
REVIEW_RISK_SUMMARY = [
    ("Deployment Scripts", 3, 5, 3, 0, 11),
    ("Rollback", 0, 3, 2, 0, 5),
    ("Migrations", 1, 2, 2, 0, 5),
    ("Backups", 0, 3, 2, 2, 7),
    ("Docker", 0, 0, 3, 2, 5),
    ("Environment", 0, 2, 0, 1, 3),
    ("CI/CD", 3, 0, 0, 0, 3),
    ("Monitoring", 0, 0, 2, 0, 2),
]
REVIEW_TOTALS = ("TOTAL", 7, 15, 14, 5, 41)
# The review's score breakdown: category, weight.
REVIEW_CATEGORIES = [
    ("Deployment Scripts", 25),
    ("Database Migrations", 20),
    ("Backup & DR", 20),
    ("CI/CD Pipeline", 15),
    ("Monitoring", 10),
    ("Environment Config", 10),
]


@pytest.fixture(scope="module")
def _demo_loaded(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Loaded once for the module inside a transaction that is rolled back at its end; each
    test runs in a savepoint within it, as usual."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            call_command("load_demo", password="demo-pw", stdout=StringIO())
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def demo(_demo_loaded, db):  # type: ignore[no-untyped-def]
    project = Project.objects.get(slug="liquor-pos")
    return {
        "project": project,
        "review": Release.objects.get(project=project, version="1.0.0"),
        "fixed": Release.objects.get(project=project, version="1.1.0"),
        "production": Environment.objects.get(project=project, slug="production"),
        "staging": Environment.objects.get(project=project, slug="staging"),
    }


def test_every_gap_of_the_review_is_a_check_with_its_severity(demo):
    checks = dict(
        Check.objects.filter(project=demo["project"], code__in=REVIEW_GAPS).values_list(
            "code", "severity"
        )
    )
    assert checks == REVIEW_GAPS


def test_the_categories_are_the_review_score_breakdown(demo):
    categories = list(
        Category.objects.filter(project=demo["project"]).values_list("name", "weight")
    )
    assert categories == REVIEW_CATEGORIES
    # Rollback gaps count under Deployment Scripts, Docker gaps under Environment Config.
    by_section = {
        section: set(names)
        for section in ("Rollback", "Docker")
        for names in [
            Check.objects.filter(project=demo["project"], section=section).values_list(
                "category__name", flat=True
            )
        ]
    }
    assert by_section == {"Rollback": {"Deployment Scripts"}, "Docker": {"Environment Config"}}


def test_the_production_run_of_1_0_0_reproduces_the_risk_summary(demo):
    report = build_report(demo["review"], demo["production"])
    assert report.section_risk is not None
    rows = [
        (
            r.group,
            r.counts["critical"],
            r.counts["high"],
            r.counts["medium"],
            r.counts["low"],
            r.total,
        )
        for r in report.section_risk.rows
    ]
    assert rows == REVIEW_RISK_SUMMARY
    totals = report.section_risk.totals
    assert ("TOTAL", *totals.counts.values(), totals.total) == REVIEW_TOTALS
    # Every gap fails with its own severity; everything else in the run passes.
    failing = {r.check.code: r.severity for r in report.evaluation.results if r.status == "fail"}
    assert failing == REVIEW_GAPS
    assert {r.status for r in report.evaluation.results} == {"fail", "pass"}
    assert [b.check.code for b in report.blockers] == [
        "DS-001",
        "DS-002",
        "DS-003",
        "MG-001",
        "CI-001",
        "CI-002",
        "CI-003",
    ]


def test_the_stored_breakdown_of_the_run_equals_a_fresh_evaluation(demo):
    run = ReadinessRun.objects.get(release=demo["review"], environment=demo["production"])
    fresh = evaluate(run)
    assert run.score == fresh.overall
    assert [(c["name"], c["weight"]) for c in run.breakdown["categories"]] == REVIEW_CATEGORIES
    assert [c["score"] for c in run.breakdown["categories"]] == [
        str(c.score) for c in fresh.score.categories
    ]
    assert run.breakdown["risk_summary"][-1] == {
        "category": "TOTAL",
        "critical": 7,
        "high": 15,
        "medium": 14,
        "low": 5,
        "total": 41,
    }


def table(markdown: str, heading: str) -> list[list[str]]:
    """The rows of the first table after a heading, as lists of cell texts (without ** marks)."""
    section = markdown.split(heading, 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("**", "") for c in line.strip("|").split("|")]
            if not set(cells[0]) <= {"-"}:
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header


def test_the_report_is_consistent_with_itself(demo):
    out = StringIO()
    call_command("readiness_report", "liquor-pos", "1.0.0", "production", stdout=out)
    markdown = out.getvalue()

    risk = table(markdown, "## RISK SUMMARY BY CATEGORY")
    *rows, total = [[r[0], *map(int, r[1:])] for r in risk]
    # The review's columns, then how many of the total are pending and how many were waived.
    assert [tuple(r[:6]) for r in rows] == REVIEW_RISK_SUMMARY
    for row in rows:
        assert row[5] == sum(row[1:5])  # each row's total is the sum of its cells
    assert total == ["TOTAL", *[sum(r[i] for r in rows) for i in range(1, 8)]]

    summary = re.search(
        r"identifies \*\*(\d+) gaps\*\*.*\*\*(\d+) Critical\*\*, \*\*(\d+) High\*\*, \*\*(\d+) Medium\*\*, and \*\*(\d+) Low\*\*",
        markdown,
    )
    assert summary is not None
    gaps, *by_severity = map(int, summary.groups())
    assert [gaps, *by_severity] == [total[5], *total[1:5]]

    # The section tables list the same gaps the risk table counts.
    gap_rows = re.findall(
        r"^\| \*\*([A-Z]+-\d{3})\*\* \| .*? \| ([A-Z]+) \| fail \|", markdown, re.M
    )
    assert {code: severity.lower() for code, severity in gap_rows} == REVIEW_GAPS
    # The priority lists hold as many items as the totals say.
    for heading, count in (
        ("## CRITICAL BLOCKERS", total[1]),
        ("## HIGH-PRIORITY FIXES", total[2]),
        ("## MEDIUM-PRIORITY IMPROVEMENTS", total[3]),
        ("## LOW-PRIORITY ENHANCEMENTS", total[4]),
    ):
        listed = markdown.split(heading, 1)[1].split("---", 1)[0]
        assert len(re.findall(r"^\d+\. \*\*", listed, re.M)) == count, heading

    breakdown = table(markdown, "## DEPLOYMENT READINESS SCORE BREAKDOWN")
    *parts, total_row = breakdown
    assert [(p[0], int(p[2].rstrip("%"))) for p in parts] == REVIEW_CATEGORIES
    weight_total = int(total_row[2].rstrip("%"))
    assert weight_total == sum(int(p[2].rstrip("%")) for p in parts) == 100
    weighted = []
    for name, score, weight, contribution in parts:
        value = Decimal(score.split("/")[0]) * int(weight.rstrip("%")) / weight_total
        assert Decimal(contribution) == value.quantize(Decimal("0.001")), name
        weighted.append(value)
    shown_total = re.search(r"([\d.]+)/100 \(Σ ([\d.]+), rounded", total_row[3])
    assert shown_total is not None
    overall, sigma = Decimal(shown_total.group(1)), Decimal(shown_total.group(2))
    assert sigma == sum(weighted, Decimal(0)).quantize(Decimal("0.001"))
    assert overall == sigma.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    assert f"**Overall Readiness Score:** **{overall}/100**" in markdown
    assert "NOT READY FOR PRODUCTION" in markdown


def test_the_report_prints_as_html(demo, tmp_path):
    path = tmp_path / "review.html"
    call_command(
        "readiness_report",
        "liquor-pos",
        "1.0.0",
        "production",
        "--format",
        "html",
        "-o",
        str(path),
        stdout=StringIO(),
    )
    html = path.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    for code in REVIEW_GAPS:
        assert code in html


def test_release_1_1_0_opens_the_staging_gate(demo):
    decision = evaluate_gate(demo["fixed"], demo["staging"])
    assert decision.allowed, decision.reasons
    assert decision.score == Decimal("100.0")
    production = evaluate_gate(demo["fixed"], demo["production"])
    assert [r.code for r in production.reasons] == ["approvals_missing"]  # one more approver


def test_loading_the_demo_twice_changes_nothing(demo):
    models = (Project, Release, Environment, Category, Check, ReadinessRun, CheckResult, ManualTick,
              Waiver, Approval, Deployment, Lock, AuditEvent)  # fmt: skip
    before = {m.__name__: m.objects.count() for m in models}
    out = StringIO()
    call_command("load_demo", password="demo-pw", stdout=out)
    assert "already loaded" in out.getvalue()
    assert {m.__name__: m.objects.count() for m in models} == before


def test_the_audit_log_accounts_for_the_seeded_history(demo):
    loaded = AuditEvent.objects.get(action="demo.loaded")
    assert loaded.after["seeded_deployments"] == Deployment.objects.count() > 0
    assert loaded.after["seeded_approvals"] == Approval.objects.count() > 0


def test_the_seeded_deployments_are_marked_as_recorded_after_the_fact(demo):
    # None of them went through the gate and lock: the history is written, not replayed.
    assert not Deployment.objects.filter(recorded_after_the_fact=False).exists()


def test_the_demos_evidence_says_where_it_comes_from(demo):
    run = ReadinessRun.objects.get(release=demo["fixed"], environment=demo["production"])
    results = run.results.select_related("check_item", "source_user", "source_token", "attested_by")
    by_kind: dict[str, set[tuple]] = {}
    for r in results:
        by_kind.setdefault(r.check_item.kind, set()).add(
            (
                r.source,
                r.source_user and r.source_user.username,
                r.source_token and r.source_token.name,
            )
        )
    assert by_kind["ci"] == {("pipeline", None, "github-actions")}
    assert by_kind["http"] == {("worker", None, None)}
    assert by_kind["manual"] <= {("person", "dana", None), ("worker", None, None)}
    # dana registered 1.1.0: ben attested her ticks of the critical checklist items.
    critical = [r for r in results if r.check_item.kind == "manual" and r.severity == "critical"]
    assert critical
    assert all(r.status == "pass" and r.attested_by.username == "ben" for r in critical)
