"""The readiness review of a release for an environment, generated from Preflight's data in the
shape of the hand-written review it replaces (/docs/readiness.md, "The readiness report").

``build_report`` gathers the facts from one evaluation of one run (and of the run of the last
review, for what was resolved since); ``checks.report.sections`` words them into one Document;
Markdown, the page and its print render that Document. So the summary, the tables and the
breakdown always agree, in every format."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from releases.models import Approval, Environment, Release

from .. import scoring
from ..evaluation import EffectiveResult, RunEvaluation, evaluate
from ..gate import GateDecision, evaluate_gate
from ..models import (
    Check,
    CheckResult,
    Phase,
    ReadinessRun,
    ResultStatus,
    ReviewBaseline,
    Waiver,
)
from .document import Document
from .markdown import render as _render_markdown

SEVERITY_TITLE = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
PRIORITY = {"critical": "P0", "high": "P1", "medium": "P2", "low": "P3"}
FORMULA = (
    "Severity weight: critical 8, high 4, medium 2, low 1. Credit: pass 1, waived 1, warn 0.5, "
    "fail/error/pending 0; skipped checks are left out. Category score = 100 × Σ(credit × weight) / "
    "Σ(weight), rounded to one decimal; a category without applicable checks is left out and the "
    "other weights renormalise. Overall score = Σ(category weight × category score) / Σ(category "
    "weights), rounded to one decimal."
)
# A result of the last review that counts as a gap then: anything but a pass (or not applicable).
WAS_A_GAP = frozenset(
    {
        ResultStatus.FAIL,
        ResultStatus.ERROR,
        ResultStatus.PENDING,
        ResultStatus.WARN,
        ResultStatus.WAIVED,
    }
)


@dataclass(frozen=True)
class Section:
    """One of the review's sections (a check's ``section``, else its category)."""

    name: str
    strengths: list[EffectiveResult]
    gaps: list[EffectiveResult]  # not passing (fail, error, pending, warn) or waived
    # Passing now, a gap in the last review: never listed as a strength.
    resolved: list[tuple[EffectiveResult, str]] = field(default_factory=list)


@dataclass
class RiskLine:
    """A row of the risk summary: the open gaps by severity (fail, error or pending), how many
    of them are pending (not done yet), and the waived gaps, counted apart."""

    section: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(scoring.SEVERITIES, 0))
    pending: int = 0
    waived: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "section": self.section,
            **self.counts,
            "total": self.total,
            "pending": self.pending,
            "waived": self.waived,
        }


def risk_lines(results: tuple[EffectiveResult, ...] | list[EffectiveResult]) -> list[RiskLine]:
    """The risk summary by the review's sections, then its TOTAL row."""
    lines: OrderedDict[str, RiskLine] = OrderedDict()
    total = RiskLine("TOTAL")
    for item in results:
        if item.status == ResultStatus.SKIPPED:
            continue
        name = section_of(item)
        line = lines.setdefault(name, RiskLine(name))
        for target in (line, total):
            if item.status in scoring.NON_PASSING:
                target.counts[item.severity] += 1
                target.pending += item.status == ResultStatus.PENDING
            elif item.status == ResultStatus.WAIVED:
                target.waived += 1
    return [*lines.values(), total]


def section_of(item: EffectiveResult) -> str:
    return item.check.section or item.category.name


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    name: str
    score: Decimal | None
    weight: int
    contribution: Decimal | None
    checks: int


@dataclass(frozen=True)
class ChecklistItem:
    code: str
    title: str  # the action wording, else the check's title
    done: bool
    status: str


@dataclass(frozen=True)
class FileFinding:
    file: str
    line: int | None
    message: str
    code: str
    severity: str


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
    risk: list[RiskLine] = field(default_factory=list)
    breakdown: list[BreakdownRow] = field(default_factory=list)
    checklists: list[tuple[str, list[ChecklistItem]]] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)
    previous_run: ReadinessRun | None = None
    # The release's first finished run for the environment, when this one came later, and the
    # gaps of that run this one passes (with their status then).
    first_run: ReadinessRun | None = None
    closed: list[tuple[EffectiveResult, str]] = field(default_factory=list)
    review: ReviewBaseline | None = None
    findings: list[FileFinding] = field(default_factory=list)
    _document: Document | None = None

    @property
    def score(self) -> Decimal | None:
        return self.evaluation.overall if self.evaluation else None

    @property
    def ready(self) -> bool:
        return self.gate.allowed

    @property
    def verdict(self) -> str:
        prefix = "READY" if self.ready else "NOT READY"
        return f"{prefix} FOR {self.environment.name.upper()}"

    @property
    def risk_totals(self) -> scoring.RiskRow | None:
        return self.section_risk.totals if self.section_risk else None

    @property
    def risk_total(self) -> RiskLine | None:
        return self.risk[-1] if self.risk else None

    def gaps_by_severity(self, severity: str) -> list[EffectiveResult]:
        """Open gaps of that severity, then the waived ones (listed, marked, not counted)."""
        gaps = [g for s in self.sections for g in s.gaps if g.severity == severity]
        return [g for g in gaps if g.status in scoring.NON_PASSING] + [
            g for g in gaps if g.status == ResultStatus.WAIVED
        ]

    @property
    def blockers(self) -> list[EffectiveResult]:
        return [g for g in self.gaps_by_severity("critical") if g.status in scoring.NON_PASSING]

    @property
    def resolved(self) -> list[tuple[EffectiveResult, str]]:
        return [r for s in self.sections for r in s.resolved]

    @property
    def waived(self) -> list[EffectiveResult]:
        return [g for s in self.sections for g in s.gaps if g.status == ResultStatus.WAIVED]

    @property
    def checklist_counts(self) -> tuple[int, int, int, int]:
        """(done, pending, waived, items in all) of the deployment checklist; an item that is
        none of these failed or could not run."""
        items = [i for _, phase in self.checklists for i in phase]
        return (
            sum(1 for i in items if i.done),
            sum(1 for i in items if i.status == ResultStatus.PENDING),
            sum(1 for i in items if i.status == ResultStatus.WAIVED),
            len(items),
        )

    @property
    def formula(self) -> str:
        return FORMULA

    @property
    def weighted_total(self) -> Decimal | None:
        values = [row.contribution for row in self.breakdown if row.contribution is not None]
        return sum(values, Decimal(0)) if values else None

    @property
    def document(self) -> Document:
        """The review, worded: what every format renders."""
        if self._document is None:
            from .sections import compose

            self._document = compose(self)
        return self._document


def action_of(check: Check) -> str:
    """What to do about a gap, in the review's words; the check's title when it has none."""
    return check.action or check.title


def previous_review(release: Release, environment: Environment) -> ReadinessRun | None:
    """The last review before this release's: the newest finished readiness run, in the same
    environment, of the latest release registered before this one that has such a run."""
    return (
        ReadinessRun.objects.finished()
        .filter(
            release__project_id=release.project_id,
            environment=environment,
            kind=ReadinessRun.Kind.READINESS,
            release__created_at__lt=release.created_at,
        )
        .select_related("release")
        .order_by("-release__created_at", "-release_id", "-finished_at", "-id")
        .first()
    )


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
        review=ReviewBaseline.objects.filter(project_id=release.project_id).first(),
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

    report.previous_run = previous_review(release, environment)
    before: dict[int, str] = {}
    if report.previous_run is not None:
        before = {e.check.pk: e.status for e in evaluate(report.previous_run, now=now).results}

    sections: OrderedDict[str, Section] = OrderedDict()
    for item in evaluation.results:
        if item.status == ResultStatus.SKIPPED:
            continue
        name = section_of(item)
        section = sections.setdefault(name, Section(name=name, strengths=[], gaps=[]))
        if item.status != ResultStatus.PASS:
            section.gaps.append(item)
        elif before.get(item.check.pk) in WAS_A_GAP:
            section.resolved.append((item, before[item.check.pk]))
        else:
            section.strengths.append(item)
    order = list(scoring.SEVERITIES)
    for section in sections.values():
        section.gaps.sort(key=lambda g: (order.index(g.severity), g.check.position, g.check.code))
        section.resolved.sort(key=lambda r: (order.index(r[0].severity), r[0].check.position))
    report.sections = list(sections.values())
    # The review's risk table has a row per section, not per weighted category.
    report.section_risk = scoring.risk_summary(
        [
            scoring.Scored(category=section_of(e), severity=e.severity, status=e.status)
            for e in evaluation.results
        ],
        list(sections),
    )
    report.risk = risk_lines(evaluation.results)
    score = evaluation.score
    report.breakdown = [
        BreakdownRow(
            key=c.key,
            name=c.name,
            score=c.score,
            weight=c.weight,
            contribution=score.contribution(c),
            checks=c.checks,
        )
        for c in score.categories
    ]
    report.checklists = _checklists(release, environment, evaluation)
    report.findings = _findings(evaluation)
    report.first_run, report.closed = _closed_since_first_run(evaluation)
    return report


def _closed_since_first_run(
    evaluation: RunEvaluation,
) -> tuple[ReadinessRun | None, list[tuple[EffectiveResult, str]]]:
    """The gaps of the release's first run for this environment that pass in this one. A
    release is one commit (its git_sha never changes), so its sources are the same in both
    runs: what closed them is Preflight's configuration and records (settings, deployments,
    backups, drills, webhooks, ticks, reports)."""
    run = evaluation.run
    first = (
        ReadinessRun.objects.finished()
        .filter(
            release_id=run.release_id,
            environment_id=run.environment_id,
            kind=ReadinessRun.Kind.READINESS,
            created_at__lt=run.created_at,
        )
        .order_by("created_at", "id")
        .first()
    )
    if first is None:
        return None, []
    was = dict(
        CheckResult.objects.filter(run=first, status__in=scoring.NON_PASSING).values_list(
            "check_item_id", "status"
        )
    )
    closed = [
        (item, was[item.check.pk])
        for item in evaluation.results
        if item.status == ResultStatus.PASS and item.check.pk in was
    ]
    return first, closed


def _findings(evaluation: RunEvaluation) -> list[FileFinding]:
    """Where the open gaps are, by file and line, from the findings repository rules keep."""
    found = []
    for item in evaluation.results:
        if item.status not in scoring.NON_PASSING:
            continue
        for entry in (item.result.data or {}).get("findings") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
                continue
            line = entry.get("line")
            found.append(
                FileFinding(
                    file=entry["file"],
                    line=line if isinstance(line, int) else None,
                    message=str(entry.get("message") or ""),
                    code=item.check.code,
                    severity=item.severity,
                )
            )
    return found


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
                    title=action_of(check),
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

    from ..evidence import needs_attestation
    from ..models import Attestation, ManualTick

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


def render_markdown(report: Report) -> str:
    return _render_markdown(report.document)
