"""Reported by CI over the API (POST check-results); pending until a pipeline reports.

Only pipelines report (``checks.evidence.pipeline_refusal``): a service token of the project,
one of ``services`` when the check names them. A run reads the latest report a pipeline made;
reports recorded before Preflight kept the reporting token are history, not evidence."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import CheckContext, ConfigError, Kind, Outcome, only_keys, register, str_list

TOKEN_NAME_LENGTH = 100  # releases.ApiToken.name


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, {"instructions", "services"})
    validated = dict(config)
    if "services" in config:
        services = str_list(config, "services")
        for name in services:
            if name != name.strip() or len(name) > TOKEN_NAME_LENGTH:
                raise ConfigError(
                    "services",
                    f"{name!r}: name a service token (at most {TOKEN_NAME_LENGTH} characters, "
                    "no surrounding spaces)",
                )
        if len(set(services)) != len(services):
            raise ConfigError("services", "names a service twice")
        validated["services"] = services
    return validated


def evaluate(ctx: CheckContext) -> Outcome:
    from checks.models import ReportedResult

    report = (
        ReportedResult.objects.filter(
            release_id=ctx.release_id,
            environment_id=ctx.environment_id,
            check_item_id=ctx.check_id,
            token__isnull=False,
        )
        .order_by("-created_at", "-id")
        .first()
    )
    return outcome_of_report(report)


def outcome_of_report(report: Any) -> Outcome:
    if report is None:
        return Outcome("pending", "Not reported by CI yet.")
    detail = report.detail or f"Reported {report.status} by {report.reported_by_label}."
    return Outcome(
        report.status,
        detail,
        evidence_url=report.url,
        source="pipeline",
        token_id=report.token_id,
    )


KIND = register(
    Kind(
        name="ci",
        description="Reported by the CI pipeline through the API.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
