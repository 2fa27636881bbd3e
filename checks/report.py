"""The readiness review of a release for an environment, generated from Preflight's data in the
shape of the hand-written reviews it replaces. Every number comes from one evaluation of one
run, so the summary, the tables and the score breakdown always agree with each other."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from releases.models import Approval, Environment, Release

from . import scoring
from .evaluation import EffectiveResult, RunEvaluation, evaluate
from .gate import GateDecision, evaluate_gate
from .models import Check, Phase, ReadinessRun, ResultStatus, Waiver

SEVERITY_TITLE = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
PRIORITY = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}
PRIORITY_HEADING = {
    "critical": "CRITICAL BLOCKERS (Must Fix Before Production)",
    "high": "HIGH-PRIORITY FIXES (Fix Within 1 Week)",
    "medium": "MEDIUM-PRIORITY IMPROVEMENTS (Fix Within 1 Month)",
    "low": "LOW-PRIORITY ENHANCEMENTS (Fix Within 3 Months)",
}
FORMULA = (
    "Severity weight: critical 8, high 4, medium 2, low 1. Credit: pass 1, waived 1, warn 0.5, "
    "fail/error/pending 0; skipped checks are left out. Category score = 100 × Σ(credit × weight) / "
    "Σ(weight), rounded to one decimal; a category without applicable checks is left out and the "
    "other weights renormalise. Overall score = Σ(category weight × category score) / Σ(category "
    "weights), rounded to one decimal."
)


@dataclass(frozen=True)
class Section:
    name: str
    strengths: list[EffectiveResult]
    gaps: list[EffectiveResult]  # not passing (fail, error, pending, warn) or waived


@dataclass(frozen=True)
class BreakdownRow:
    name: str
    score: Decimal | None
    weight: int
    contribution: Decimal | None
    checks: int


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    title: str
    done: bool
    status: str


@dataclass
class Report:
    release: Release
    environment: Environment
    generated_at: datetime
    run: ReadinessRun | None
    evaluation: RunEvaluation | None
    gate: GateDecision
    sections: list[Section] = field(default_factory=list)
    section_risk: scoring.RiskSummary | None = None
    breakdown: list[BreakdownRow] = field(default_factory=list)
    checklists: list[tuple[str, list[ChecklistItem]]] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)

    @property
    def score(self) -> Decimal | None:
        return self.evaluation.overall if self.evaluation else None

    @property
    def ready(self) -> bool:
        return self.gate.allowed

    @property
    def verdict(self) -> str:
        return (
            f"READY FOR {self.environment.name.upper()}"
            if self.ready
            else f"NOT READY FOR {self.environment.name.upper()}"
        )

    @property
    def risk_totals(self) -> scoring.RiskRow | None:
        return self.section_risk.totals if self.section_risk else None

    def gaps_by_severity(self, severity: str) -> list[EffectiveResult]:
        return [
            g
            for s in self.sections
            for g in s.gaps
            if g.severity == severity and g.status in scoring.NON_PASSING
        ]

    @property
    def blockers(self) -> list[EffectiveResult]:
        return self.gaps_by_severity("critical")

    @property
    def formula(self) -> str:
        return FORMULA

    @property
    def weighted_total(self) -> Decimal | None:
        values = [row.contribution for row in self.breakdown if row.contribution is not None]
        return sum(values, Decimal(0)) if values else None


def build_report(
    release: Release, environment: Environment, *, run: ReadinessRun | None = None
) -> Report:
    now = timezone.now()
    gate = evaluate_gate(release, environment, now=now)
    if run is None:
        run = (
            ReadinessRun.objects.finished()
            .filter(release=release, environment=environment, kind=ReadinessRun.Kind.READINESS)
            .order_by("-finished_at", "-id")
            .first()
        )
    evaluation = evaluate(run, now=now) if run is not None else None
    report = Report(
        release=release,
        environment=environment,
        generated_at=now,
        run=run,
        evaluation=evaluation,
        gate=gate,
    )
    report.approvals = list(
        Approval.objects.filter(release=release, environment=environment)
        .select_related("approver")
        .order_by("created_at")
    )
    report.waivers = list(
        Waiver.objects.filter(
            release=release, revoked_at__isnull=True, expires_at__gt=now
        ).select_related("check_item", "created_by")
    )
    if evaluation is None:
        return report

    sections: OrderedDict[str, Section] = OrderedDict()
    for item in evaluation.results:
        if item.status == ResultStatus.SKIPPED:
            continue
        name = item.check.section or item.category.name
        section = sections.setdefault(name, Section(name=name, strengths=[], gaps=[]))
        (section.strengths if item.status == ResultStatus.PASS else section.gaps).append(item)
    for section in sections.values():
        section.gaps.sort(
            key=lambda g: (
                list(scoring.SEVERITIES).index(g.severity),
                g.check.position,
                g.check.code,
            )
        )
    report.sections = list(sections.values())
    # The review's risk table has a row per section, not per weighted category.
    report.section_risk = scoring.risk_summary(
        [
            scoring.Scored(
                category=(e.check.section or e.category.name), severity=e.severity, status=e.status
            )
            for e in evaluation.results
        ],
        list(sections),
    )
    score = evaluation.score
    report.breakdown = [
        BreakdownRow(
            name=c.name,
            score=c.score,
            weight=c.weight,
            contribution=score.contribution(c),
            checks=c.checks,
        )
        for c in score.categories
    ]
    report.checklists = _checklists(release, environment, evaluation)
    return report


def _checklists(
    release: Release, environment: Environment, evaluation: RunEvaluation
) -> list[tuple[str, list[ChecklistItem]]]:
    """The checklist items by phase, with the run's state for those it covers and the ticks for
    the others (the during and post items are ticked while deploying)."""
    status = {e.check.pk: e.status for e in evaluation.results}
    checks = Check.objects.filter(
        project_id=release.project_id, is_active=True, in_checklist=True
    ).order_by("position", "code")
    ticks = _latest_ticks(release, environment)
    phases = []
    for phase in Phase:
        items = []
        for check in checks:
            if check.phase != phase:
                continue
            state = status.get(check.pk) or ("pass" if ticks.get(check.pk) else "pending")
            items.append(
                ChecklistItem(
                    code=check.code,
                    title=check.title,
                    done=state == ResultStatus.PASS,
                    status=state,
                )
            )
        if items:
            phases.append((phase.label, items))
    return phases


def _latest_ticks(release: Release, environment: Environment) -> dict[int, bool]:
    """Whether each checklist item's latest tick counts: ticked, and attested when it is the
    creator's tick of a critical check (``checks.evidence``)."""
    from django.db.models import Exists, OuterRef

    from .evidence import needs_attestation
    from .models import Attestation, ManualTick

    attested = Attestation.objects.filter(tick=OuterRef("pk"), withdrawn_at__isnull=True)
    counts = {}
    for check_id, ticked, ticked_by_id, severity, is_attested in (
        ManualTick.objects.filter(release=release, environment=environment)
        .latest_per_check()
        .annotate(attested=Exists(attested))
        .values_list("check_item_id", "ticked", "ticked_by_id", "check_item__severity", "attested")
    ):
        counts[check_id] = ticked and (
            is_attested
            or not needs_attestation(
                severity=severity, created_by_id=release.created_by_id, ticked_by_id=ticked_by_id
            )
        )
    return counts


def number(value: Decimal | None, places: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:.{places}f}"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(report: Report) -> str:
    release, environment = report.release, report.environment
    lines: list[str] = []
    add = lines.append
    add("# Deployment Readiness Review")
    add(f"**Date:** {report.generated_at:%B %-d, %Y}  ")
    add("**Reviewer:** Preflight (generated from the readiness data)  ")
    add(f"**System:** {release.project.name} {release.version} → {environment.name}")
    add("")
    add("---")
    add("")
    add("## Executive Summary")
    add("")
    if report.evaluation is None:
        add(
            f"No readiness run of {release.version} for {environment.name} has finished yet, so there is nothing to review."
        )
        add("")
        add(f"**Status:** {report.verdict}")
        return "\n".join(lines) + "\n"

    totals = report.risk_totals
    assert totals is not None
    counts = totals.counts
    gap_sections = [
        s.name for s in report.sections if any(g.status in scoring.NON_PASSING for g in s.gaps)
    ]
    add(
        f"This review identifies **{totals.total} gaps**"
        + (f" across {_join(gap_sections)}" if gap_sections else "")
        + f". The system has **{counts['critical']} Critical**, **{counts['high']} High**, "
        f"**{counts['medium']} Medium**, and **{counts['low']} Low** risk items."
    )
    add("")
    add(
        f"**Overall Readiness Score:** **{number(report.score)}/100** (minimum for {environment.name}: {number(environment.min_score)}) - {report.verdict}"
    )
    add("")
    if report.gate.reasons:
        add("**Why the gate is closed:**")
        add("")
        for reason in report.gate.reasons:
            add(f"- {reason.message}")
        add("")
    if report.run is not None and report.run.finished_at is not None:
        add(
            f"From readiness run #{report.run.pk}, finished {report.run.finished_at:%Y-%m-%d %H:%M} UTC."
        )
        add("")
    add("---")
    for number_, section in enumerate(report.sections, start=1):
        add("")
        add(f"## {number_}. {section.name.upper()}")
        add("")
        if section.strengths:
            add("#### Strengths")
            for item in section.strengths:
                add(f"- {item.check.title}")
            add("")
        for severity in scoring.SEVERITIES:
            gaps = [g for g in section.gaps if g.severity == severity]
            if not gaps:
                continue
            add(f"#### {SEVERITY_TITLE[severity]}-Risk Gaps")
            add("")
            add("| ID | Gap | Risk | Status | Impact |")
            add("|----|-----|------|--------|--------|")
            for gap in gaps:
                add(
                    f"| **{gap.check.code}** | **{_cell(gap.check.title)}** | {severity.upper()} | {gap.status} "
                    f"| {_cell(gap.check.impact or gap.detail)} |"
                )
            add("")
        add("---")
    add("")
    add("## RISK SUMMARY BY CATEGORY")
    add("")
    add("| Category | Critical | High | Medium | Low | Total |")
    add("|----------|----------|------|--------|-----|-------|")
    assert report.section_risk is not None
    for row in report.section_risk.rows:
        add(
            f"| {row.group} | {row.counts['critical']} | {row.counts['high']} | {row.counts['medium']} | {row.counts['low']} | {row.total} |"
        )
    add(
        f"| **TOTAL** | **{counts['critical']}** | **{counts['high']}** | **{counts['medium']}** | "
        f"**{counts['low']}** | **{totals.total}** |"
    )
    add("")
    add(
        "Counted: checks that fail, could not run (error) or are not done yet (pending). Waived checks are not counted."
    )
    add("")
    add("---")
    for severity in scoring.SEVERITIES:
        gaps = report.gaps_by_severity(severity)
        add("")
        add(f"## {PRIORITY_HEADING[severity]}")
        add("")
        if not gaps:
            add("None.")
        for index, gap in enumerate(gaps, start=1):
            add(f"{index}. **{gap.check.code}** ({PRIORITY[severity]}): {gap.check.title}")
        add("")
        add("---")
    add("")
    add("## RECOMMENDED DEPLOYMENT CHECKLIST")
    for phase, items in report.checklists:
        add("")
        add(f"### {phase[0].upper() + phase[1:]}")
        add("")
        for entry in items:
            add(f"- [{'x' if entry.done else ' '}] **{entry.code}**: {entry.title}")
    add("")
    add("---")
    add("")
    add("## DEPLOYMENT READINESS SCORE BREAKDOWN")
    add("")
    add("| Category | Score | Weight | Weighted Score |")
    add("|----------|-------|--------|----------------|")
    for part in report.breakdown:
        score = f"{number(part.score)}/100" if part.score is not None else "no applicable checks"
        add(f"| {part.name} | {score} | {part.weight}% | {number(part.contribution, 3)} |")
    weight_total = report.evaluation.score.weight_total
    add(
        f"| **TOTAL** | | **{weight_total}%** | **{number(report.score)}/100** "
        f"(Σ {number(report.weighted_total, 3)}, rounded to one decimal) |"
    )
    add("")
    add(f"**Status:** {report.verdict}")
    add("")
    add(f"**Minimum Acceptable Score:** {number(environment.min_score)}/100")
    add("")
    add(f"**How the score is computed:** {FORMULA}")
    if weight_total != 100:
        add("")
        add(
            f"Only {weight_total}% of the weight has applicable checks; the total is divided by {weight_total}, not 100."
        )
    add("")
    add("---")
    add("")
    add("## APPROVALS AND WAIVERS")
    add("")
    approvals = report.gate.approvals
    add(
        f"**Approvals:** {len(approvals.granted)} of {approvals.required} required"
        + (f" ({', '.join(approvals.granted)})" if approvals.granted else "")
        + "."
    )
    for who, why in approvals.rejected:
        add(f"- Rejected by {who}: {why}")
    for who, why in approvals.stale:
        add(f"- {who}'s approval is stale: {why}")
    add("")
    if report.waivers:
        add("| Check | Waived by | Until | Reason |")
        add("|-------|-----------|-------|--------|")
        for waiver in report.waivers:
            add(
                f"| {waiver.check_item.code} | {waiver.created_by.get_username()} | {waiver.expires_at:%Y-%m-%d} | {_cell(waiver.reason)} |"
            )
    else:
        add("No waivers in force.")
    add("")
    add("---")
    add("")
    add(
        f"**Report Generated:** {report.generated_at:%Y-%m-%d %H:%M} UTC by Preflight from readiness run #{report.run.pk if report.run else '—'}  "
    )
    add(f"**Release:** {release.version} ({release.git_sha})  ")
    add(f"**Gate for {environment.name}:** {'open' if report.ready else 'closed'}")
    return "\n".join(lines) + "\n"


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
