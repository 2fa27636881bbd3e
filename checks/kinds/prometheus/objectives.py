"""Objectives, Keptn-style, as pure functions: criteria such as ``< 0.01`` (absolute) or
``<= +10%`` (relative to a baseline), an objective's verdict from its pass and warning criteria,
and the check's verdict from its objectives — a failed ``key`` objective fails the check whatever
the others say, and too little data is an ``error``, never a pass.

Nothing here does I/O or knows Django: the kind measures, these judge."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..base import ConfigError

# Verdicts of one objective. ``info`` is an objective without criteria: measured and charted,
# never judged (Keptn's "informational SLI").
PASS, WARN, FAIL, ERROR, INFO = "pass", "warn", "fail", "error", "info"
SKIPPED = "skipped"

_NUMBER = r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
_CRITERION = re.compile(rf"^\s*(<=|>=|==|=|<|>)\s*([+-])?\s*({_NUMBER})\s*(%)?\s*$")

AGGREGATES = ("avg", "min", "max", "last", "p50", "p90", "p95", "p99", "instant")


@dataclass(frozen=True)
class Criterion:
    """``operator`` and a threshold: ``amount`` itself, or — with a sign (``relative``) — the
    baseline moved by ``amount`` (a percentage of the baseline when ``percent``)."""

    operator: str
    amount: float  # signed when relative
    relative: bool
    percent: bool

    def __str__(self) -> str:
        if not self.relative:
            return f"{self.operator} {_number(self.amount)}"
        sign = "+" if self.amount >= 0 else "-"
        return f"{self.operator} {sign}{_number(abs(self.amount))}{'%' if self.percent else ''}"

    def threshold(self, baseline: float | None) -> float:
        if not self.relative:
            return self.amount
        if baseline is None:
            raise ValueError("a relative criterion needs a baseline")
        if self.percent:
            # Of the baseline's magnitude: "+10%" is higher by a tenth, whatever the sign.
            return baseline + abs(baseline) * self.amount / 100
        return baseline + self.amount

    def holds(self, value: float, baseline: float | None) -> bool:
        limit = self.threshold(baseline)
        close = math.isclose(value, limit, rel_tol=1e-9, abs_tol=1e-12)
        match self.operator:
            case "<":
                return value < limit and not close
            case "<=":
                return value <= limit or close
            case ">":
                return value > limit and not close
            case ">=":
                return value >= limit or close
            case _:
                return close


@dataclass(frozen=True)
class Criteria:
    """Keptn's shape: any of ``groups`` holds when all the criteria of that group hold. Empty:
    nothing to judge by."""

    groups: tuple[tuple[Criterion, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __str__(self) -> str:
        return " or ".join(" and ".join(str(c) for c in group) for group in self.groups)

    @property
    def relative(self) -> bool:
        return any(c.relative for group in self.groups for c in group)

    def holds(self, value: float, baseline: float | None) -> bool:
        return any(all(c.holds(value, baseline) for c in group) for group in self.groups)

    def absolute_only(self) -> Criteria:
        """These criteria without the relative ones (for judging without a baseline); a group
        that had only relative criteria is dropped rather than left empty (empty would hold)."""
        kept = tuple(
            tuple(c for c in group if not c.relative)
            for group in self.groups
            if any(not c.relative for c in group)
        )
        return Criteria(kept)

    def thresholds(self, baseline: float | None) -> list[float]:
        """The lines a chart draws: each criterion's threshold that can be known."""
        found = []
        for group in self.groups:
            for c in group:
                if not c.relative or baseline is not None:
                    found.append(c.threshold(baseline))
        return found


def parse_criterion(text: Any, field: str) -> Criterion:
    if not isinstance(text, str):
        raise ConfigError(field, "a criterion is a string such as '< 0.01' or '<= +10%'")
    match = _CRITERION.match(text)
    if match is None:
        raise ConfigError(
            field,
            f"{text!r} is not a criterion: write an operator (<, <=, =, >=, >) and a number, "
            "e.g. '< 0.01'; with a sign it is relative to the baseline, e.g. '<= +10%' or '< +5'",
        )
    operator, sign, number, percent = match.groups()
    if percent and not sign:
        raise ConfigError(
            field,
            f"{text!r}: a percentage is relative to the baseline; write +{number}% or -{number}%",
        )
    amount = float(number) * (-1 if sign == "-" else 1)
    return Criterion(
        operator="=" if operator == "==" else operator,
        amount=amount,
        relative=sign is not None,
        percent=bool(percent),
    )


def parse_criteria(value: Any, field: str) -> Criteria:
    """``"< 0.01"``; a list that must all hold, ``["<= +10%", "< 0.5"]``; or Keptn's list of
    alternatives, ``[{criteria: ["<= +10%", "< 600"]}, {criteria: ["< 300"]}]``."""
    if value is None:
        return Criteria()
    if isinstance(value, str):
        return Criteria(((parse_criterion(value, field),),))
    if not isinstance(value, list) or not value:
        raise ConfigError(
            field, "must be a criterion, a list of criteria, or Keptn's [{criteria: [...]}]"
        )
    if all(isinstance(item, str) for item in value):
        return Criteria((tuple(parse_criterion(c, f"{field}.{n}") for n, c in enumerate(value)),))
    groups = []
    for n, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"criteria"}:
            raise ConfigError(
                f"{field}.{n}", "alternatives are written as {criteria: [...]}, one per alternative"
            )
        listed = item["criteria"]
        listed = [listed] if isinstance(listed, str) else listed
        if not isinstance(listed, list) or not listed:
            raise ConfigError(f"{field}.{n}.criteria", "must be a criterion or a list of them")
        groups.append(
            tuple(parse_criterion(c, f"{field}.{n}.criteria.{m}") for m, c in enumerate(listed))
        )
    return Criteria(tuple(groups))


@dataclass(frozen=True)
class Objective:
    name: str
    query: str
    passing: Criteria
    warning: Criteria
    key: bool = False
    weight: float = 1.0
    aggregate: str = "avg"

    @property
    def judged(self) -> bool:
        return bool(self.passing)

    @property
    def relative(self) -> bool:
        return self.passing.relative or self.warning.relative


OBJECTIVE_KEYS = {"name", "query", "pass", "warning", "key", "weight", "aggregate"}


def parse_objective(raw: Any, field: str, position: int) -> Objective:
    if not isinstance(raw, Mapping):
        raise ConfigError(field, "an objective is a mapping with at least a query")
    unknown = sorted(set(raw) - OBJECTIVE_KEYS)
    if unknown:
        raise ConfigError(
            f"{field}.{unknown[0]}", f"unknown setting; known: {', '.join(sorted(OBJECTIVE_KEYS))}"
        )
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"{field}.query", "is required: the PromQL expression to measure")
    name = raw.get("name", f"objective {position + 1}")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{field}.name", "must be a short non-empty string")
    passing = parse_criteria(raw.get("pass"), f"{field}.pass")
    warning = parse_criteria(raw.get("warning"), f"{field}.warning")
    if warning and not passing:
        raise ConfigError(f"{field}.warning", "needs pass criteria too: a warning is a near pass")
    key = raw.get("key", False)
    if not isinstance(key, bool):
        raise ConfigError(f"{field}.key", "must be true or false")
    if key and not passing:
        raise ConfigError(f"{field}.key", "a key objective needs pass criteria")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 100:
        raise ConfigError(f"{field}.weight", "must be a number above 0, at most 100")
    aggregate = raw.get("aggregate", "avg")
    if aggregate not in AGGREGATES:
        raise ConfigError(f"{field}.aggregate", f"must be one of {', '.join(AGGREGATES)}")
    return Objective(
        name=name.strip(),
        query=query.strip(),
        passing=passing,
        warning=warning,
        key=key,
        weight=float(weight),
        aggregate=aggregate,
    )


# Measuring and judging ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """An objective's value over a window and how many samples it rests on."""

    value: float | None
    samples: int


def usable(values: Sequence[float]) -> list[float]:
    """Samples that are numbers: NaN (0/0 with no traffic) and infinities carry no data."""
    return [v for v in values if math.isfinite(v)]


def aggregate(values: Sequence[float], how: str) -> float | None:
    """One value from a series' samples (``instant`` is measured by the server, not here)."""
    data = usable(values)
    if not data:
        return None
    match how:
        case "avg":
            return math.fsum(data) / len(data)
        case "min":
            return min(data)
        case "max":
            return max(data)
        case "last":
            return data[-1]
        case _ if how.startswith("p") and how[1:].isdigit():
            return percentile(data, int(how[1:]))
    raise ValueError(f"unknown aggregate {how!r}")


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (what numpy's default does)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Judgement:
    verdict: str  # pass | warn | fail | error | info
    reason: str


def judge(
    objective: Objective,
    measured: Measurement,
    baseline: Measurement | None,
    *,
    min_samples: int,
    no_baseline: str = "",
) -> Judgement:
    """One objective's verdict. ``baseline`` is None when there is nothing to compare with;
    ``no_baseline`` then says why, and relative criteria are judged ``error`` — unless
    ``no_baseline`` is empty, which means the check was told to leave them out."""
    if measured.samples < min_samples or measured.value is None:
        return Judgement(
            ERROR,
            f"not enough data: {count(measured.samples, 'sample')} in the window, "
            f"{min_samples} needed",
        )
    passing, warning = objective.passing, objective.warning
    if objective.relative:
        if baseline is None:
            if no_baseline:
                return Judgement(ERROR, no_baseline)
            passing, warning = passing.absolute_only(), warning.absolute_only()
        elif baseline.samples < min_samples or baseline.value is None:
            return Judgement(
                ERROR,
                f"not enough baseline data: {count(baseline.samples, 'sample')}, "
                f"{min_samples} needed",
            )
    base = baseline.value if baseline is not None else None
    value = measured.value
    if not passing:
        return Judgement(INFO, "measured, not judged")
    if passing.holds(value, base):
        return Judgement(PASS, f"{_number(value)} meets {_described(passing, base)}")
    if warning and warning.holds(value, base):
        return Judgement(
            WARN,
            f"{_number(value)} misses {_described(passing, base)} but meets the warning "
            f"{_described(warning, base)}",
        )
    return Judgement(FAIL, f"{_number(value)} misses {_described(passing, base)}")


def _described(criteria: Criteria, baseline: float | None) -> str:
    text = str(criteria)
    if criteria.relative and baseline is not None:
        limits = ", ".join(
            _number(c.threshold(baseline)) for group in criteria.groups for c in group if c.relative
        )
        text += f" (relative to the baseline: {limits})"
    return text


@dataclass(frozen=True)
class TotalScore:
    """Keptn's total score: the check passes at ``passing`` percent of the objectives' weight
    and warns at ``warning`` (a passed objective earns its weight, a warning half)."""

    passing: float
    warning: float


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | warn | fail | error | skipped
    summary: str
    score: float | None = None
    key_failed: bool = False


CREDIT = {PASS: 1.0, WARN: 0.5, FAIL: 0.0}
_WORST_FIRST = (FAIL, WARN, PASS)


def overall(
    judged: Sequence[tuple[Objective, Judgement]], total: TotalScore | None = None
) -> Verdict:
    """The check's verdict from its objectives' judgements."""
    for objective, judgement in judged:
        if objective.key and judgement.verdict == FAIL:
            return Verdict(
                FAIL,
                f"Key objective {objective.name} failed: {judgement.reason}.",
                key_failed=True,
            )
    errors = [(o, j) for o, j in judged if j.verdict == ERROR]
    if errors:
        objective, judgement = errors[0]
        more = f" (and {count(len(errors) - 1, 'other objective')})" if len(errors) > 1 else ""
        return Verdict(ERROR, f"{objective.name}: {judgement.reason}{more}.")
    scored = [(o, j) for o, j in judged if j.verdict in CREDIT]
    if not scored:
        return Verdict(SKIPPED, "No objective could be judged.")
    weight = math.fsum(o.weight for o, _ in scored)
    score = 100 * math.fsum(o.weight * CREDIT[j.verdict] for o, j in scored) / weight
    counts = ", ".join(
        f"{sum(1 for _, j in scored if j.verdict == v)} {label}"
        for v, label in ((PASS, "passed"), (WARN, "warned"), (FAIL, "failed"))
        if any(j.verdict == v for _, j in scored)
    )
    if total is not None:
        status = PASS if score >= total.passing else WARN if score >= total.warning else FAIL
        return Verdict(
            status,
            f"Score {score:.0f}% ({counts}); passes at {total.passing:g}%, warns at "
            f"{total.warning:g}%.",
            score=score,
        )
    status = next(v for v in _WORST_FIRST if any(j.verdict == v for _, j in scored))
    first = next(o for o, j in scored if j.verdict == status)
    lead = {
        PASS: "Every objective met",
        WARN: f"{first.name} only warns",
        FAIL: f"{first.name} failed",
    }[status]
    return Verdict(status, f"{lead} ({counts}).", score=score)


# Durations, numbers, placeholders and selectors ---------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, field: str) -> float:
    """Seconds from ``30s``, ``10m``, ``1h30m`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(field, "must be a duration such as 30s, 10m or 1h")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ConfigError(field, f"{value!r} is not a duration: write 30s, 10m, 1h or 1h30m")


def promql_duration(seconds: float) -> str:
    """A duration as PromQL writes it (``300s``), for the ``{window}`` placeholder."""
    return f"{round(seconds)}s" if seconds >= 1 else f"{round(seconds * 1000)}ms"


PLACEHOLDERS = (
    "project",
    "version",
    "git_sha",
    "environment",
    "previous_version",
    "previous_git_sha",
    "window",
)
# PromQL's own braces hold label matchers (``{job="pos"}``), never a bare name: a bare
# ``{name}`` is always one of ours, so only those are replaced.
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def unknown_placeholders(template: str) -> list[str]:
    return sorted({m for m in _PLACEHOLDER.findall(template) if m not in PLACEHOLDERS})


def fill_query(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{version}`` and the like, escaped for a PromQL string (versions may hold
    characters a string needs escaped: ``"`` and ``\\`` cannot pass the release's validator,
    but a query may also be filled from other values)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return values[name].replace("\\", "\\\\").replace('"', '\\"')

    return _PLACEHOLDER.sub(replace, template)


def needs(template: str, names: Sequence[str]) -> bool:
    return any(f"{{{name}}}" in template for name in names)


def _matcher(label: str) -> re.Pattern[str]:
    return re.compile(rf'(?<![\w"]){re.escape(label)}\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')


def labels_missing(query: str, labels: Sequence[str]) -> list[str]:
    """The selector labels a query does not match on (its baseline could not differ)."""
    return [label for label in labels if not _matcher(label).search(query)]


def select(query: str, labels: Mapping[str, str]) -> str:
    """The baseline's query: each of ``labels``' matchers set to the baseline's value, e.g.
    ``version="1.4.0"`` where the canary's query says ``version="1.5.0"``."""
    for label, value in labels.items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        query = _matcher(label).sub(_constant(f'{label}="{escaped}"'), query)
    return query


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement taken as it is (re.sub would read backslashes in a string)."""
    return lambda _match: text


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _number(value: float) -> str:
    return number(value)


def number(value: float | None) -> str:
    """A measured value, short: 0.0123, 245.3, 1.2e+06."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return f"{value:.4g}"
