"""The Liquor POS demo reproduces the readiness review of 2026-01-05: every gap with its
severity and section, the risk summary table exactly, the six weighted categories of its score
breakdown; the generated report agrees with itself; loading twice changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.template.loader import render_to_string

from audit.models import AuditEvent
from checks.evaluation import evaluate
from checks.gate import evaluate_gate
from checks.models import Category, Check, CheckResult, ManualTick, ReadinessRun, Waiver
from checks.report import build_report, render_markdown
from demo import loader
from releases.models import Approval, Deployment, Environment, Lock, Project, Release

from ..conftest import as_actor

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
    # Every gap is not passing with its own severity (failing, not done, or unable to run);
    # everything else in the run passes.
    not_passing = {
        r.check.code: r.severity for r in report.evaluation.results if r.status != "pass"
    }
    assert not_passing == REVIEW_GAPS
    assert {r.status for r in report.evaluation.results} <= {"fail", "error", "pending", "pass"}
    assert [b.check.code for b in report.blockers] == [
        "DS-001",
        "DS-002",
        "DS-003",
        "MG-001",
        "CI-001",
        "CI-002",
        "CI-003",
    ]


def test_the_review_run_was_evaluated_by_the_check_code_as_of_the_review(demo):
    """Nothing in the review's run is written by the loader: it was started like any run and
    executed by the worker's code, judging the records as they stood at the review."""
    run = ReadinessRun.objects.get(release=demo["review"], environment=demo["production"])
    loaded = AuditEvent.objects.get(action="demo.loaded").occurred_at
    assert loaded - run.created_at > timedelta(days=loader.REVIEW_DAYS_AGO - 1)
    assert (run.status, run.attempts, run.requested_by.username) == ("finished", 1, "ana")
    assert AuditEvent.objects.filter(
        action="run.finished", object_id=str(run.pk), actor="system:readiness-run"
    ).exists()
    results = {r.check_item.code: r for r in run.results.select_related("check_item")}
    assert all(r.evaluated_at is not None for r in results.values())
    # Each detail is what its kind found, naming files and lines, records and settings.
    assert "deploy.sh:16: sleep 5 (5 s)" in results["DS-004"].detail
    assert "rollback.sh:11: pm2" in results["RB-003"].detail
    assert results["CI-003"].detail.startswith("Production requires 0 approvals")
    assert results["BK-004"].detail.startswith("None of the 7 backups of pos-main")
    assert results["DS-010"].status == "pending"  # deploy.sh's deployments were not recorded yet
    assert results["DS-007"].detail == "Not reported by CI yet."
    assert results["BK-001"].detail == "No restore drill of pos-main has run."
    assert results["DS-002"].status == "pending"  # a person judges it; nobody had
    assert results["MON-S1"].status == "pass"  # Preflight's own health endpoints answered
    assert {results[code].source for code in results if code.startswith("DS-S")} >= {"person"}


def test_at_least_33_gaps_are_judged_without_a_person_and_the_rest_say_why(demo):
    gaps = Check.objects.filter(project=demo["project"], code__in=REVIEW_GAPS)
    by_kind: dict[str, list[str]] = {}
    for check in gaps:
        by_kind.setdefault(check.kind, []).append(check.code)
    judged_otherwise = sum(len(codes) for kind, codes in by_kind.items() if kind != "manual")
    assert judged_otherwise >= 33, by_kind
    assert set(by_kind) >= {"repository", "preflight", "ci", "backup", "postgres"}
    manual = gaps.filter(kind="manual")
    assert manual.count() == 41 - judged_otherwise
    for check in manual:
        assert len(check.manual_reason) > 40, check.code
    # The ci checks take only the project's pipeline.
    assert all(c.config["services"] == ["github-actions"] for c in gaps.filter(kind="ci"))


def test_release_1_1_0_passes_what_1_0_0_failed(demo):
    review = ReadinessRun.objects.get(release=demo["review"], environment=demo["production"])
    fixed = ReadinessRun.objects.get(
        release=demo["fixed"], environment=demo["production"], kind="readiness"
    )
    before = {r.check.code: r for r in evaluate(review).results}
    after = {r.check.code: r for r in evaluate(fixed).results}
    assert {code for code, r in before.items() if r.status != "pass"} == set(REVIEW_GAPS)
    assert {code: after[code].status for code in REVIEW_GAPS if after[code].status != "pass"} == {
        "DK-003": "waived",
        "BK-003": "waived",
    }
    # The same checks, judged on 1.1.0's tree and on the records made since the review.
    assert after["DS-001"].detail == "Found deploy.ps1."
    assert after["CI-002"].detail.startswith("Every deploy job runs after tests")
    assert after["CI-003"].detail.startswith("Production requires 2 approvals")
    assert after["RB-001"].detail.startswith("Rollback #")
    assert "verified by verification run #" in after["RB-001"].detail
    assert after["BK-004"].detail.startswith(
        "All 7 backups of pos-main in the last 7 days are encrypted"
    )
    assert after["DS-010"].detail.startswith("All 2 deployments to Staging")
    assert after["DS-007"].result.source == "pipeline"
    assert after["DS-002"].result.attested_by.username == "ben"


def test_re_running_1_0_0_today_reports_the_gaps_preflights_configuration_closed(demo):
    from checks.services.runs import run_execute, run_start
    from demo import replay

    with replay.health_endpoints():
        run, _ = run_start(
            actor=as_actor(demo["fixed"].created_by),
            release=demo["review"],
            environment=demo["production"],
        )
        run_execute(run.pk)
    report = build_report(demo["review"], demo["production"])
    assert report.run == run
    first = ReadinessRun.objects.filter(release=demo["review"]).earliest("created_at")
    assert report.first_run == first
    closed = {item.check.code: was for item, was in report.closed}
    # The source is the same commit; what changed are Preflight's settings and records.
    assert closed == {
        "DS-008": "fail", "DS-009": "fail", "DS-010": "pending", "DS-011": "fail",
        "RB-001": "fail", "BK-001": "fail", "BK-002": "fail", "BK-004": "fail",
        "BK-005": "fail", "BK-006": "fail", "BK-007": "fail", "CI-003": "fail",
        "MON-001": "fail",
    }  # fmt: skip
    assert all(item.check.kind in ("preflight", "backup") for item, _ in report.closed)
    markdown = render_markdown(report)
    section = markdown.split("## CLOSED SINCE THE FIRST RUN", 1)[1].split("\n---\n", 1)[0]
    assert f"the same as in its first readiness run for Production, #{first.pk}" in section
    assert "13 of that run's gaps pass now" in section
    rows = re.findall(
        r"^\| \*\*([A-Z]+-\d{3})\*\* \| .* \| (fail|pending) \| pass: ", section, re.M
    )
    assert dict(rows) == closed
    html = render_to_string("checks/report.html", {"report": report, "standalone": True})
    closed_html = html.split('id="review-closed-since-first-run"', 1)[1].split("</section>", 1)[0]
    assert "Closed Since the First Run" in closed_html
    assert closed_html.count("<td>pass: ") == len(closed)
    # The tree did not change: its gaps still fail.
    still = {r.check.code for r in report.evaluation.results if r.status == "fail"}
    assert {"DS-001", "MG-001", "DS-004"} <= still


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
        r"^\| \*\*([A-Z]+-\d{3})\*\* \| .*? \| ([A-Z]+) \| (?:fail|error|pending) \|",
        markdown,
        re.M,
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
    seeded = Deployment.objects.filter(recorded_after_the_fact=True)
    assert loaded.after["seeded_deployments"] == seeded.count() > 0
    # Everything else went through the services, each with its event.
    assert loaded.after["seeded_approvals"] == 0
    for approval in Approval.objects.all():
        assert AuditEvent.objects.filter(
            action="approval.recorded", object_id=str(approval.pk)
        ).exists()
    for deployment in Deployment.objects.filter(recorded_after_the_fact=False):
        action = "rollback.started" if deployment.rollback_of_id else "deployment.started"
        assert AuditEvent.objects.filter(action=action, object_id=str(deployment.pk)).exists()


def test_deploy_sh_history_is_recorded_after_the_fact_and_later_deployments_passed_the_gate(demo):
    review_run = ReadinessRun.objects.get(release=demo["review"], environment=demo["production"])
    before, since = [], []
    for deployment in Deployment.objects.order_by("started_at"):
        (before if deployment.started_at < review_run.created_at else since).append(deployment)
    # deploy.sh's deployments, imported from its log: none went through the gate and lock.
    assert before
    assert all(d.recorded_after_the_fact for d in before)
    # Since the review: a rollback rehearsed in staging and 1.1.0's way to staging, gated.
    assert [
        (d.release.version, d.environment.slug, d.status, bool(d.rollback_of_id)) for d in since
    ] == [
        ("0.9.3", "staging", "verified", True),
        ("1.1.0", "development", "verified", False),
        ("1.1.0", "staging", "verified", False),
    ]
    assert not any(d.recorded_after_the_fact or d.is_override for d in since)
    started = AuditEvent.objects.filter(
        action="deployment.started", object_id=str(since[-1].pk)
    ).get()
    assert started.after["gate_reasons"] == []
    assert started.actor == "token:github-actions"


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
    assert by_kind["preflight"] == by_kind["repository"] == {("worker", None, None)}
    assert by_kind["manual"] <= {("person", "dana", None), ("worker", None, None)}
    # dana registered 1.1.0: ben attested her ticks of the critical checklist items.
    critical = [r for r in results if r.check_item.kind == "manual" and r.severity == "critical"]
    assert critical
    assert all(r.status == "pass" and r.attested_by.username == "ben" for r in critical)


def test_the_auditor_reads_the_whole_audit_log_and_changes_nothing_in_the_admin(demo, client):
    from django.contrib.auth import get_user_model

    vic = get_user_model().objects.get(username="vic")
    assert vic.is_staff
    assert not vic.is_superuser
    client.force_login(vic)  # a sign-in: an event of no project
    sign_in = AuditEvent.objects.filter(action="auth.login", project_id__isnull=True).latest("seq")
    page = client.get("/audit/")
    assert page.status_code == 200
    assert f'id="event-{sign_in.seq}"' in page.content.decode()
    # Staff without model permissions: the admin lets them change nothing.
    assert client.get("/admin/releases/webhookdelivery/").status_code == 403
