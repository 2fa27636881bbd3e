"""Reported by CI over the API (POST check-results); pending until the pipeline reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import CheckContext, Kind, Outcome, only_keys, register


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, {"instructions"})
    return dict(config)


def evaluate(ctx: CheckContext) -> Outcome:
    from checks.models import ReportedResult

    report = (
        ReportedResult.objects.filter(
            release_id=ctx.release_id, environment_id=ctx.environment_id, check_item_id=ctx.check_id
        )
        .order_by("-created_at", "-id")
        .first()
    )
    return outcome_of_report(report)


def outcome_of_report(report: Any) -> Outcome:
    if report is None:
        return Outcome("pending", "Not reported by CI yet.")
    detail = report.detail or f"Reported {report.status} by {report.reported_by_label}."
    return Outcome(report.status, detail, evidence_url=report.url)


KIND = register(
    Kind(
        name="ci",
        description="Reported by the CI pipeline through the API.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
