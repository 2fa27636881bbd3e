"""The review's sections, worded from a Report: executive summary, one part per review section,
the risk summary, the four priority lists, the checklist, the files requiring attention, the
score breakdown (and how it compares with the review's hand-assigned figure), recommendations,
approvals and waivers, and the conclusion. Every sentence and number is made here, once."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING

from .. import scoring
from ..models import ResultStatus
from .document import (
    Checklist,
    ChecklistEntry,
    Document,
    Heading,
    Paragraph,
    Section,
    Span,
    Table,
    Text,
    code,
    strong,
    text,
)

if TYPE_CHECKING:
    from ..evaluation import EffectiveResult
    from . import Report

SEVERITIES = scoring.SEVERITIES
PRIORITY_SECTIONS = {
    "critical": ("blockers", "Critical Blockers (Must Fix Before Production)"),
    "high": ("high-priority", "High-Priority Fixes (Fix Within 1 Week)"),
    "medium": ("medium-priority", "Medium-Priority Improvements (Fix Within 1 Month)"),
    "low": ("low-priority", "Low-Priority Enhancements (Fix Within 3 Months)"),
}
# Gate reasons the gaps already say (the score, each critical gap); the others are steps of
# their own (approvals, locks, freezes, promotion order).
GAP_REASONS = frozenset({"critical_check", "score_below_minimum"})
# How many lines of one file the files section names before counting the rest.
LINES_PER_FILE = 8


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def _num(value: Decimal | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:.{places}f}"


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _status(item: EffectiveResult) -> str:
    if item.status == ResultStatus.WAIVED and item.waiver is not None:
        return f"waived until {item.waiver.expires_at:%Y-%m-%d}"
    return str(item.status)


def _action(item: EffectiveResult) -> str:
    from . import action_of

    return action_of(item.check)


def compose(report: Report) -> Document:
    release, environment = report.release, report.environment
    document = Document(
        title="Deployment Readiness Review",
        meta=(
            text(strong("Date:"), f" {report.generated_at:%B %-d, %Y}"),
            text(strong("Reviewer:"), " Preflight (generated from the readiness data)"),
            text(
                strong("System:"), f" {release.project.name} {release.version} → {environment.name}"
            ),
        ),
        sections=[],
        footer=(
            text(
                strong("Report Generated:"),
                f" {report.generated_at:%Y-%m-%d %H:%M} UTC by Preflight from readiness run "
                f"#{report.run.pk if report.run else '—'}",
            ),
            text(strong("Release:"), f" {release.version} ({release.git_sha})"),
            text(
                strong(f"Gate for {environment.name}:"), f" {'open' if report.ready else 'closed'}"
            ),
        ),
    )
    summary = Section("summary", "Executive Summary", shout=False)
    document.sections.append(summary)
    if report.evaluation is None:
        summary.add(
            Paragraph(
                text(
                    f"No readiness run of {release.version} for {environment.name} has finished "
                    "yet, so there is nothing to review."
                )
            ),
            Paragraph(text(strong("Status:"), f" {report.verdict}")),
        )
        return document
    _summary(report, summary)
    for number, section in enumerate(report.sections, start=1):
        document.sections.append(_analysis(report, number, section))
    if report.first_run is not None:
        document.sections.append(_closed(report))
    document.sections.append(_risk(report))
    for severity in SEVERITIES:
        document.sections.append(_priorities(report, severity))
    document.sections.append(_checklist(report))
    document.sections.append(_files(report))
    document.sections.append(_breakdown(report))
    document.sections.append(_recommendations(report))
    document.sections.append(_approvals(report))
    document.sections.append(_conclusion(report))
    return document


def _summary(report: Report, summary: Section) -> None:
    total = report.risk_total
    assert total is not None
    assert report.run is not None
    counts = total.counts
    gap_sections = [line.section for line in report.risk[:-1] if line.total]
    sentence: list[str | Span] = [
        "This review identifies ",
        strong(_n(total.total, "gap")),
        f" across {_join(gap_sections)}" if gap_sections else "",
        ". The system has ",
        strong(f"{counts['critical']} Critical"),
        ", ",
        strong(f"{counts['high']} High"),
        ", ",
        strong(f"{counts['medium']} Medium"),
        ", and ",
        strong(f"{counts['low']} Low"),
        " risk items",
    ]
    if total.pending:
        sentence.append(
            f"; {total.pending} of them {'is' if total.pending == 1 else 'are'} not done yet (pending)"
        )
    summary.add(Paragraph(text(*sentence, ".")))
    waived = report.waived
    if waived:
        summary.add(
            Paragraph(
                text(
                    strong(_n(len(waived), "waived gap")),
                    f" ({', '.join(w.check.code for w in waived)}): accepted risks, listed and "
                    "marked below but not counted above.",
                )
            )
        )
    if report.previous_run is not None:
        resolved = report.resolved
        summary.add(
            Paragraph(
                text(
                    strong(f"{_n(len(resolved), 'gap')} resolved since the last review"),
                    f" ({_last_review(report)})"
                    + (f": {', '.join(r.check.code for r, _ in resolved)}." if resolved else "."),
                )
            )
        )
    done, pending, waived_items, items = report.checklist_counts
    if items:
        others = items - done - pending - waived_items
        summary.add(
            Paragraph(
                text(
                    strong("Deployment checklist:"),
                    f" {done} of {_n(items, 'item')} done, {pending} pending"
                    + (f", {waived_items} waived" if waived_items else "")
                    + (f", {others} failing" if others else "")
                    + ".",
                )
            )
        )
    summary.add(
        Paragraph(
            text(
                strong("Overall Readiness Score:"),
                " ",
                strong(f"{_num(report.score)}/100"),
                f" (minimum for {report.environment.name}: {_num(report.environment.min_score)})"
                f" - {report.verdict}",
            )
        )
    )
    if report.gate.reasons:
        summary.add(Paragraph(text(strong("Why the gate is closed:"))))
        summary.items(text(reason.message) for reason in report.gate.reasons)
    finished = report.run.finished_at
    summary.add(
        Paragraph(
            text(
                f"From readiness run #{report.run.pk}"
                + (f", finished {finished:%Y-%m-%d %H:%M} UTC." if finished else ".")
            ),
            note=True,
        )
    )


def _last_review(report: Report) -> str:
    previous = report.previous_run
    assert previous is not None
    when = f" of {previous.finished_at:%Y-%m-%d}" if previous.finished_at else ""
    return f"{previous.release.version}, readiness run #{previous.pk}{when}"


def _analysis(report: Report, number: int, section: object) -> Section:
    from . import Section as ReviewSection

    assert isinstance(section, ReviewSection)
    part = Section(f"section-{number}", f"{number}. {section.name}")
    if section.resolved:
        part.add(Heading("Resolved since the last review"))
        part.add(Paragraph(text(f"Gaps of {_last_review(report)} that pass now:"), note=True))
        part.items(
            text(strong(item.check.code), f": {item.check.title} (was {was})")
            for item, was in section.resolved
        )
    if section.strengths:
        part.add(Heading("Strengths"))
        part.items(text(item.check.title) for item in section.strengths)
    for severity in SEVERITIES:
        gaps = [g for g in section.gaps if g.severity == severity]
        if not gaps:
            continue
        part.add(
            Heading(f"{scoring_title(severity)}-Risk Gaps"),
            Table(
                columns=("ID", "Gap", "Risk", "Status", "Impact"),
                rows=tuple(
                    (
                        text(strong(g.check.code)),
                        text(strong(g.check.title)),
                        text(severity.upper()),
                        text(_status(g)),
                        text(g.check.impact or g.detail),
                    )
                    for g in gaps
                ),
            ),
        )
    if not (section.resolved or section.strengths or section.gaps):
        part.add(Paragraph(text("Nothing applies here.")))
    return part


def _closed(report: Report) -> Section:
    """Re-running a release: which of its first run's gaps Preflight's configuration and
    records closed since, its sources (one commit) being the same."""
    first = report.first_run
    assert first is not None
    release = report.release
    part = Section("closed-since-first-run", "Closed Since the First Run")
    part.add(
        Paragraph(
            text(
                f"Release {release.version} is one commit ({release.git_sha[:12]}), the same as "
                f"in its first readiness run for {report.environment.name}, #{first.pk} of "
                f"{first.created_at:%Y-%m-%d}: its sources did not change. ",
                (
                    f"{len(report.closed)} of that run's gaps pass now, closed by Preflight's own "
                    "configuration and records since:"
                    if report.closed
                    else "None of that run's gaps has been closed since."
                ),
            )
        )
    )
    if report.closed:
        part.add(
            Table(
                columns=("ID", "Gap", "Risk", "Was", "Now"),
                rows=tuple(
                    (
                        text(strong(item.check.code)),
                        text(item.check.title),
                        text(item.severity.upper()),
                        text(was),
                        text(f"pass: {item.detail}"),
                    )
                    for item, was in report.closed
                ),
            )
        )
    return part


def scoring_title(severity: str) -> str:
    return severity[0].upper() + severity[1:]


def _risk(report: Report) -> Section:
    part = Section("risk-summary", "Risk Summary by Category")
    *lines, total = report.risk

    def cells(line: object, bold: bool = False) -> tuple[Text, ...]:
        from . import RiskLine

        assert isinstance(line, RiskLine)
        values = [line.section] + [str(line.counts[s]) for s in SEVERITIES]
        values += [str(line.total), str(line.pending), str(line.waived)]
        return tuple(text(strong(v) if bold else v) for v in values)

    part.add(
        Table(
            columns=("Category", "Critical", "High", "Medium", "Low", "Total", "Pending", "Waived"),
            rows=tuple(cells(line) for line in lines),
            total=cells(total, bold=True),
            numeric=frozenset(range(1, 8)),
        ),
        Paragraph(
            text(
                "Counted: checks that fail, could not run (error) or are not done yet (pending); "
                "Pending says how many of the total are not done yet. Waived gaps are accepted "
                "risks: counted apart, not in the total."
            ),
            note=True,
        ),
    )
    return part


def _priorities(report: Report, severity: str) -> Section:
    key, title = PRIORITY_SECTIONS[severity]
    part = Section(key, title)
    gaps = report.gaps_by_severity(severity)
    part.add(Heading(f"{_priority(severity)} - {scoring_title(severity)} Risk"))
    part.items(
        (
            text(
                strong(g.check.code),
                f": {_action(g)}",
                f" ({_status(g)}: not counted)" if g.status == ResultStatus.WAIVED else "",
            )
            for g in gaps
        ),
        ordered=True,
        empty="None.",
    )
    return part


def _priority(severity: str) -> str:
    from . import PRIORITY

    return PRIORITY[severity]


def _checklist(report: Report) -> Section:
    part = Section("checklist", "Recommended Deployment Checklist")
    for phase, items in report.checklists:
        done = sum(1 for i in items if i.done)
        part.add(
            Heading(f"{phase[0].upper() + phase[1:]}: {done} of {len(items)} done"),
            Checklist(
                tuple(
                    ChecklistEntry(
                        done=i.done,
                        text=text(
                            strong(i.code), f": {i.title}", "" if i.done else f" ({i.status})"
                        ),
                    )
                    for i in items
                )
            ),
        )
    if not report.checklists:
        part.add(Paragraph(text("No check of the catalog is marked as a checklist item.")))
    return part


def _files(report: Report) -> Section:
    part = Section("files", "Files Requiring Immediate Attention")
    order = list(SEVERITIES)
    missing: OrderedDict[str, list[str]] = OrderedDict()
    places: OrderedDict[str, list[tuple[int | None, str, str]]] = OrderedDict()
    rank: dict[str, int] = {}
    for f in sorted(report.findings, key=lambda f: (order.index(f.severity), f.file, f.line or 0)):
        rank.setdefault(f.file, order.index(f.severity))
        if f.line is None and f.message == "missing":
            missing.setdefault(f.file, []).append(f.code)
        else:
            places.setdefault(f.file, []).append((f.line, f.code, f.message))
    if missing:
        part.add(Heading("Files to create"))
        part.items(
            (
                text(code(name), f" - missing ({', '.join(dict.fromkeys(codes))})")
                for name, codes in missing.items()
            ),
            ordered=True,
        )
    if places:
        part.add(Heading("Files to update"))
        entries = []
        for name, found in places.items():
            shown = [
                f"{f'line {line}' if line else 'the file'}: {message} ({check})"
                for line, check, message in found[:LINES_PER_FILE]
            ]
            more = len(found) - LINES_PER_FILE
            entries.append(
                text(
                    code(name),
                    " - " + "; ".join(shown) + (f"; and {more} more" if more > 0 else ""),
                )
            )
        part.items(entries, ordered=True)
    if not (missing or places):
        part.add(
            Paragraph(
                text("No open gap names a file: the checks that found them read no source tree.")
            )
        )
    return part


def _breakdown(report: Report) -> Section:
    assert report.evaluation is not None
    part = Section("score", "Deployment Readiness Score Breakdown")
    weight_total = report.evaluation.score.weight_total
    part.add(
        Table(
            columns=("Category", "Score", "Weight", "Weighted Score"),
            rows=tuple(
                (
                    text(row.name),
                    text(
                        f"{_num(row.score)}/100"
                        if row.score is not None
                        else "no applicable checks"
                    ),
                    text(f"{row.weight}%"),
                    text(_num(row.contribution, 3)),
                )
                for row in report.breakdown
            ),
            total=(
                text(strong("TOTAL")),
                text(),
                text(strong(f"{weight_total}%")),
                text(
                    strong(f"{_num(report.score)}/100"),
                    f" (Σ {_num(report.weighted_total, 3)}, rounded to one decimal)",
                ),
            ),
            numeric=frozenset({1, 2, 3}),
        ),
        Paragraph(text(strong("Status:"), f" {report.verdict}")),
        Paragraph(
            text(
                strong("Minimum Acceptable Score:"),
                f" {_num(report.environment.min_score)}/100",
            )
        ),
        Paragraph(text(strong("How the score is computed:"), f" {report.formula}")),
    )
    if weight_total != 100:
        part.add(
            Paragraph(
                text(
                    f"Only {weight_total}% of the weight has applicable checks; the total is "
                    f"divided by {weight_total}, not 100."
                )
            )
        )
    _against_the_review(report, part)
    return part


def _against_the_review(report: Report, part: Section) -> None:
    """The computed score beside the one the hand-written review assigned (the catalog's
    ``review:``), and where they part."""
    review = report.review
    if review is None or report.score is None:
        return
    difference = report.score - review.score
    direction = "higher" if difference > 0 else "lower"
    by_hand = [
        (row, Decimal(review.categories[row.key]))
        for row in report.breakdown
        if row.key in review.categories
    ]
    sentence = (
        f"The hand-written review of {review.date:%B %-d, %Y} gave {_num(review.score)}/100. "
        f"Preflight computes {_num(report.score)}/100 from this run's "
        f"{_n(sum(row.checks for row in report.breakdown), 'result')} with the formula above"
        + (f", {_num(abs(difference))} {direction}. " if difference else ", the same figure. ")
        + "The review's figure was assigned by hand"
        + (", category by category," if by_hand else "")
        + " and no rule derives it from its findings; the computed score follows from the "
        "results, so a fixed gap raises it and a new one lowers it."
    )
    part.add(Heading("Against the hand-written review"), Paragraph(text(sentence)))
    if by_hand:
        part.add(
            Table(
                columns=("Category", "Review (by hand)", "Computed", "Difference"),
                rows=tuple(
                    (
                        text(row.name),
                        text(f"{_num(given)}/100"),
                        text(f"{_num(row.score)}/100" if row.score is not None else "—"),
                        text(f"{row.score - given:+.1f}" if row.score is not None else "—"),
                    )
                    for row, given in by_hand
                ),
                numeric=frozenset({1, 2, 3}),
            )
        )


def _recommendations(report: Report) -> Section:
    """Per review section, what to start with: its most severe open gap's action."""
    part = Section("recommendations", "Recommendations")
    order = list(SEVERITIES)
    open_by_section: OrderedDict[str, list[EffectiveResult]] = OrderedDict()
    for section in report.sections:
        gaps = [g for g in section.gaps if g.status in scoring.NON_PASSING]
        if gaps:
            open_by_section[section.name] = sorted(gaps, key=lambda g: order.index(g.severity))

    def lead(name: str, gaps: list[EffectiveResult], severities: tuple[str, ...]) -> Text:
        chosen = [g for g in gaps if g.severity in severities]
        first = chosen[0]
        rest = len(chosen) - 1
        return text(
            strong(f"{name}: {_action(first)}"),
            f" ({first.check.code}" + (f", and {rest} more" if rest else "") + ")",
        )

    horizons = (
        ("Immediate Actions (This Week)", ("critical",)),
        ("Short-Term (Next Month)", ("high", "medium")),
        ("Long-Term (Next Quarter)", ("low",)),
    )
    for title, severities in horizons:
        entries = [
            lead(name, gaps, severities)
            for name, gaps in open_by_section.items()
            if any(g.severity in severities for g in gaps)
        ]
        if title.startswith("Immediate"):
            entries += [
                text(reason.message)
                for reason in report.gate.reasons
                if reason.code not in GAP_REASONS
            ]
        if title.startswith("Long") and report.waived:
            entries.append(
                text(
                    strong("Revisit the waived gaps before their waivers expire:"),
                    " " + ", ".join(f"{w.check.code} ({_status(w)})" for w in report.waived),
                )
            )
        part.add(Heading(title))
        part.items(entries, ordered=True, empty="Nothing open.")
    return part


def _approvals(report: Report) -> Section:
    part = Section("approvals", "Approvals and Waivers")
    approvals = report.gate.approvals
    part.add(
        Paragraph(
            text(
                strong("Approvals:"),
                f" {len(approvals.granted)} of {approvals.required} required"
                + (f" ({', '.join(approvals.granted)})" if approvals.granted else "")
                + ".",
            )
        )
    )
    part.items(
        [text(f"Rejected by {who}: {why}") for who, why in approvals.rejected]
        + [text(f"{who}'s approval is stale: {why}") for who, why in approvals.stale]
    )
    if report.waivers:
        part.add(
            Table(
                columns=("Check", "Waived by", "Until", "Reason"),
                rows=tuple(
                    (
                        text(w.check_item.code),
                        text(w.created_by.get_username()),
                        text(f"{w.expires_at:%Y-%m-%d}"),
                        text(w.reason),
                    )
                    for w in report.waivers
                ),
            )
        )
    else:
        part.add(Paragraph(text("No waivers in force.")))
    return part


def _conclusion(report: Report) -> Section:
    part = Section("conclusion", "Conclusion")
    total = report.risk_total
    assert total is not None
    release, environment = report.release, report.environment
    blockers = len(report.blockers)
    part.add(
        Paragraph(
            text(
                f"{release.project.name} {release.version} is ",
                strong(report.verdict),
                f": a score of {_num(report.score)} against the {_num(environment.min_score)} "
                f"required, {_n(total.total, 'open gap')} of which {blockers} "
                f"{'is' if blockers == 1 else 'are'} critical, "
                f"and the gate {'open' if report.ready else 'closed'}.",
            )
        )
    )
    weight = {"critical": 8, "high": 4, "medium": 2, "low": 1}
    concerns = sorted(
        (line for line in report.risk[:-1] if line.total),
        key=lambda line: -sum(weight[s] * line.counts[s] for s in SEVERITIES),
    )[:5]
    if concerns:
        part.add(Paragraph(text(strong("Primary Concerns:"))))
        part.items(
            text(
                f"{line.section}: "
                + ", ".join(f"{line.counts[s]} {s}" for s in SEVERITIES if line.counts[s])
            )
            for line in concerns
        )
    if report.previous_run is not None:
        part.add(
            Paragraph(
                text(
                    strong("Since the last review:"),
                    f" {_n(len(report.resolved), 'gap')} resolved ({_last_review(report)}).",
                )
            )
        )
    steps: list[Text] = []
    if blockers:
        steps.append(text(f"Address all {_n(blockers, 'critical blocker')}."))
    steps += [
        text(reason.message) for reason in report.gate.reasons if reason.code not in GAP_REASONS
    ]
    _, pending, _, _ = report.checklist_counts
    if pending:
        steps.append(text(f"Complete the {_n(pending, 'pending checklist item')}."))
    part.add(Paragraph(text(strong("Next Steps:"))))
    part.items(steps, ordered=True, empty="None: the release may go.")
    return part
