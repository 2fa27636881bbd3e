"""The readiness score and the risk summary, exactly as PRODUCT.md defines them.

Pure functions over plain values: no database, so every rule is tested directly.

- Severity weight: critical 8, high 4, medium 2, low 1.
- Credit: pass 1, waived 1, warn 0.5, fail / error / pending 0; skipped checks are left out.
- Category score = 100 × Σ(credit × weight) / Σ(weight) over the category's applicable checks,
  rounded half-up to one decimal. A category with no applicable check is left out and the
  remaining category weights renormalise.
- Overall score = Σ(category weight × category score) / Σ(category weights), rounded half-up to
  one decimal. No applicable check at all gives no score (and the gate stays shut).
- Risk summary: non-passing (fail / error / pending) checks counted by group × severity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

SEVERITY_WEIGHT: dict[str, int] = {"critical": 8, "high": 4, "medium": 2, "low": 1}
SEVERITIES: tuple[str, ...] = tuple(SEVERITY_WEIGHT)
CREDIT: dict[str, Decimal] = {
    "pass": Decimal(1),
    "waived": Decimal(1),
    "warn": Decimal("0.5"),
    "fail": Decimal(0),
    "error": Decimal(0),
    "pending": Decimal(0),
}
NOT_APPLICABLE = "skipped"
NON_PASSING = frozenset({"fail", "error", "pending"})
ONE_DECIMAL = Decimal("0.1")
HUNDRED = Decimal(100)


def round1(value: Decimal) -> Decimal:
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def meets_minimum(score: Decimal, minimum: Decimal) -> bool:
    """An environment's minimum score is reached at the minimum itself (the gate's rule 2)."""
    return score >= minimum


@dataclass(frozen=True)
class CategoryInfo:
    key: str
    name: str
    weight: int


@dataclass(frozen=True)
class Scored:
    """One check's outcome, as far as scoring is concerned."""

    category: str  # CategoryInfo.key
    severity: str
    status: str


@dataclass(frozen=True)
class CategoryScore:
    key: str
    name: str
    weight: int
    score: Decimal | None  # None: no applicable check, left out of the total
    checks: int
    earned: Decimal  # Σ credit × severity weight
    possible: int  # Σ severity weight

    @property
    def counted(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class Score:
    overall: Decimal | None
    categories: tuple[CategoryScore, ...]
    weight_total: int  # Σ weights of the categories that count

    def contribution(self, category: CategoryScore) -> Decimal | None:
        """The category's part of the overall score: weight × score / Σ weights (unrounded)."""
        if category.score is None or not self.weight_total:
            return None
        return category.weight * category.score / self.weight_total


def category_score(results: Iterable[Scored]) -> tuple[Decimal | None, int, Decimal, int]:
    earned, possible, checks = Decimal(0), 0, 0
    for result in results:
        if result.status == NOT_APPLICABLE:
            continue
        weight = SEVERITY_WEIGHT[result.severity]
        earned += CREDIT[result.status] * weight
        possible += weight
        checks += 1
    if not possible:
        return None, 0, earned, 0
    return round1(HUNDRED * earned / possible), checks, earned, possible


def score(categories: Sequence[CategoryInfo], results: Iterable[Scored]) -> Score:
    by_category: dict[str, list[Scored]] = {c.key: [] for c in categories}
    for result in results:
        if result.category not in by_category:
            raise ValueError(f"result for unknown category {result.category!r}")
        by_category[result.category].append(result)

    scored = []
    for category in categories:
        value, checks, earned, possible = category_score(by_category[category.key])
        scored.append(
            CategoryScore(
                key=category.key,
                name=category.name,
                weight=category.weight,
                score=value,
                checks=checks,
                earned=earned,
                possible=possible,
            )
        )
    counted = [c for c in scored if c.score is not None]
    weight_total = sum(c.weight for c in counted)
    overall = None
    if weight_total:
        overall = round1(
            sum((c.weight * c.score for c in counted if c.score is not None), Decimal(0))
            / weight_total
        )
    return Score(overall=overall, categories=tuple(scored), weight_total=weight_total)


@dataclass
class RiskRow:
    group: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, object]:
        return {"category": self.group, **self.counts, "total": self.total}


@dataclass(frozen=True)
class RiskSummary:
    rows: tuple[RiskRow, ...]
    totals: RiskRow


def risk_summary(
    results: Iterable[Scored],
    groups: Sequence[str],
    group_of: Callable[[Scored], str] = lambda result: result.category,
) -> RiskSummary:
    """Count non-passing checks per group and severity; ``groups`` fixes the rows and their order."""
    rows = {group: RiskRow(group) for group in groups}
    totals = RiskRow("TOTAL")
    for result in results:
        if result.status not in NON_PASSING:
            continue
        group = group_of(result)
        row = rows.setdefault(group, RiskRow(group))
        row.counts[result.severity] += 1
        totals.counts[result.severity] += 1
    return RiskSummary(rows=tuple(rows.values()), totals=totals)
