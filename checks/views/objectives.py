"""The release page's Prometheus objectives: for each prometheus check of the readiness run shown
and of the release's latest verification in the environment, every objective with its value,
baseline and verdict, and a chart of the series the verdict used (as the result's data keeps
them). Costs one query whatever the number of checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Subquery

from core.web.charts import LineChart, Series, line_chart

from ..kinds.prometheus.objectives import number
from ..models import Check, CheckResult, ReadinessRun

KIND = "prometheus"


@dataclass(frozen=True)
class ObjectiveRow:
    name: str
    key: bool
    verdict: str
    value: str
    baseline: str | None
    criteria: str
    reason: str
    samples: int | None
    chart: LineChart


@dataclass
class ObjectivePanel:
    check: Check
    run: ReadinessRun
    status: str
    detail: str
    watching: bool
    baseline: str
    rows: list[ObjectiveRow] = field(default_factory=list)


def objective_panels(
    release_id: int,
    environment_id: int,
    readiness: ReadinessRun | None,
    results: list[CheckResult],
) -> list[ObjectivePanel]:
    """``results``: those of the ``readiness`` run the page shows (already loaded)."""
    latest_verification = (
        ReadinessRun.objects.filter(
            release_id=release_id,
            environment_id=environment_id,
            kind=ReadinessRun.Kind.VERIFICATION,
        )
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    verification = list(
        CheckResult.objects.filter(run_id=Subquery(latest_verification), check_item__kind=KIND)
        .select_related("check_item", "run")
        .order_by("check_item__position", "check_item__code")
    )
    shown = [
        (readiness, r) for r in results if readiness is not None and r.check_item.kind == KIND
    ] + [(r.run, r) for r in verification]
    return [panel(run, result) for run, result in shown if result.data.get("objectives")]


def panel(run: ReadinessRun, result: CheckResult) -> ObjectivePanel:
    data = result.data
    baseline = data.get("baseline") or {}
    return ObjectivePanel(
        check=result.check_item,
        run=run,
        status=result.status,
        detail=result.detail,
        watching="recheck" in data and not run.is_done,
        baseline=baseline.get("describe") or baseline.get("missing") or "",
        rows=[_row(item, data) for item in data["objectives"]],
    )


def _row(item: dict[str, Any], data: dict[str, Any]) -> ObjectiveRow:
    criteria = ", ".join(
        text
        for text in (
            f"pass {item['pass']}" if item.get("pass") else "",
            f"warning {item['warning']}" if item.get("warning") else "",
        )
        if text
    )
    has_baseline = "baseline" in item
    series = [(Series("this release", "info"), _points(item.get("series")))]
    if has_baseline:
        series.append((Series("baseline", "neutral"), _points(item.get("baseline_series"))))
    thresholds = item.get("thresholds") or {}
    rules = [
        (value, f"{kind} threshold {number(value)}", css)
        for kind, css in (("pass", "pass"), ("warning", "warn"))
        for value in thresholds.get(kind, [])
        if value is not None
    ]
    summary = (
        f"{item['name']}: {number(item.get('value'))}"
        + (f" against a baseline of {number(item.get('baseline'))}" if has_baseline else "")
        + f" ({item['verdict']}), over {_count(item.get('samples'))}"
    )
    if not any(points for _, points in series):
        summary = f"{item['name']}: no samples to draw ({item['verdict']})."
    return ObjectiveRow(
        name=item["name"],
        key=bool(item.get("key")),
        verdict=item["verdict"],
        value=number(item.get("value")),
        baseline=number(item.get("baseline")) if has_baseline else None,
        criteria=criteria or "not judged",
        reason=item.get("reason", ""),
        samples=item.get("samples"),
        chart=line_chart(series, summary=summary, rules=rules, x_range=_span(data)),
    )


def _span(data: dict[str, Any]) -> tuple[float, float] | None:
    """The window the series were measured over, in seconds from its start (the x axis)."""
    window = data.get("window") or {}
    try:
        start = datetime.fromisoformat(window["start"])
        end = datetime.fromisoformat(window["end"])
    except (KeyError, TypeError, ValueError):
        return None
    seconds = (end - start).total_seconds()
    return (0.0, seconds) if seconds > 0 else None


def _points(raw: Any) -> list[tuple[float, float | None]]:
    if not isinstance(raw, list):
        return []
    return [
        (float(pair[0]), None if pair[1] is None else float(pair[1]))
        for pair in raw
        if isinstance(pair, list) and len(pair) == 2
    ]


def _count(samples: Any) -> str:
    n = samples if isinstance(samples, int) else 0
    return f"{n} sample{'' if n == 1 else 's'}"
