"""A run's results as they stand now, with the waivers in force applied (waivers expire, so they
are applied when read rather than written into results).

Used by the gate, the pages, the API and the report, so they all show the same numbers. Costs a
fixed number of queries whatever the size of the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from . import scoring
from .models import Category, Check, CheckResult, ReadinessRun, ResultStatus, Severity, Waiver

# A waiver accepts the risk of a check that is not passing: failed, could not run, or not done.
WAIVABLE = frozenset({ResultStatus.FAIL, ResultStatus.ERROR, ResultStatus.PENDING})


def waivable(result: CheckResult) -> bool:
    """Whether a waiver can cover the result: a non-critical check that is not passing."""
    return result.severity != Severity.CRITICAL and result.status in WAIVABLE


@dataclass(frozen=True)
class EffectiveResult:
    result: CheckResult
    status: str
    waiver: Waiver | None = None

    @property
    def check(self) -> Check:
        return self.result.check_item

    @property
    def severity(self) -> str:
        return self.result.severity

    @property
    def category(self) -> Category:
        return self.result.category

    @property
    def detail(self) -> str:
        if self.waiver is not None and self.status == ResultStatus.WAIVED:
            return f"Waived until {self.waiver.expires_at:%Y-%m-%d}: {self.waiver.reason} (was: {self.result.detail})"
        return self.result.detail

    @property
    def evidence_url(self) -> str:
        return self.result.evidence_url

    @property
    def is_blocker(self) -> bool:
        return self.severity == Severity.CRITICAL and self.status in scoring.NON_PASSING

    def scored(self) -> scoring.Scored:
        return scoring.Scored(
            category=self.category.key, severity=self.severity, status=self.status
        )


@dataclass(frozen=True)
class RunEvaluation:
    run: ReadinessRun
    categories: tuple[Category, ...]
    results: tuple[EffectiveResult, ...]
    score: scoring.Score
    risk: scoring.RiskSummary

    @property
    def overall(self) -> Decimal | None:
        return self.score.overall

    @property
    def blockers(self) -> list[EffectiveResult]:
        return [r for r in self.results if r.is_blocker]

    @property
    def changes_at(self) -> datetime | None:
        """When time alone changes this evaluation: the first waiver in force to run out."""
        expiries = [
            r.waiver.expires_at
            for r in self.results
            if r.waiver is not None and r.status == ResultStatus.WAIVED
        ]
        return min(expiries, default=None)

    def by_category(self) -> list[tuple[Category, list[EffectiveResult]]]:
        groups: dict[int, list[EffectiveResult]] = {c.pk: [] for c in self.categories}
        for item in self.results:
            groups.setdefault(item.category.pk, []).append(item)
        return [(c, groups[c.pk]) for c in self.categories]

    def progress(self) -> tuple[int, int]:
        """(results evaluated, results in all): what a progress bar shows."""
        known = sum(1 for r in self.results if r.result.evaluated_at is not None)
        return known, len(self.results)


def effective_status(result: CheckResult, waiver: Waiver | None, now: datetime) -> str:
    if waiver is not None and waiver.is_active(now) and waivable(result):
        return ResultStatus.WAIVED
    return result.status


def evaluate(
    run: ReadinessRun, *, now: datetime | None = None, sources: bool = True
) -> RunEvaluation:
    return evaluate_runs([run], now=now, sources=sources)[run.pk]


def evaluate_runs(
    runs: Sequence[ReadinessRun], *, now: datetime | None = None, sources: bool = True
) -> dict[int, RunEvaluation]:
    """Several runs (one per environment, say; of one project's releases or of several
    projects') in the queries of one. ``sources=False`` leaves out who or what reported each
    result (``checks.evidence`` reads it; the gate does not), which is most of the cost of
    reading a run's results."""
    now = now or timezone.now()
    if not runs:
        return {}
    by_project: dict[int, list[Category]] = {run.release.project_id: [] for run in runs}
    categories_by_id: dict[int, Category] = {}
    for category in Category.objects.filter(project_id__in=by_project).order_by("position", "key"):
        by_project[category.project_id].append(category)
        categories_by_id[category.pk] = category
    related = ["check_item"] + (["source_user", "source_token", "attested_by"] if sources else [])
    by_run: dict[int, list[CheckResult]] = {run.pk: [] for run in runs}
    for result in (
        CheckResult.objects.filter(run__in=[run.pk for run in runs])
        .select_related(*related)
        .order_by("check_item__position", "check_item__code")
    ):
        # The run's project's categories are loaded already: no join for them.
        if result.category_id in categories_by_id:
            result.category = categories_by_id[result.category_id]
        by_run[result.run_id].append(result)
    waivers = {
        (w.release_id, w.check_item_id): w
        for w in Waiver.objects.filter(
            release_id__in={run.release_id for run in runs},
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
    }
    evaluations = {}
    for run in runs:
        categories = tuple(by_project[run.release.project_id])
        infos = [scoring.CategoryInfo(key=c.key, name=c.name, weight=c.weight) for c in categories]
        effective = tuple(
            EffectiveResult(
                result=r,
                status=effective_status(r, waivers.get((run.release_id, r.check_item_id)), now),
                waiver=waivers.get((run.release_id, r.check_item_id)),
            )
            for r in by_run[run.pk]
        )
        scored = [e.scored() for e in effective]
        evaluations[run.pk] = RunEvaluation(
            run=run,
            categories=categories,
            results=effective,
            score=scoring.score(infos, scored),
            risk=scoring.risk_summary(scored, [c.key for c in categories]),
        )
    return evaluations
