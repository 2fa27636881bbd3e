"""A person ticks it, with a note and an evidence link: what checklists are made of.

Four eyes on evidence (``checks.evidence``): a critical check ticked by the release's creator
stays pending until another person attests that tick."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import CheckContext, Kind, Outcome, only_keys, register


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    only_keys(config, {"instructions"})
    return dict(config)


def evaluate(ctx: CheckContext) -> Outcome:
    from checks.models import ManualTick

    tick = (
        ManualTick.objects.filter(
            release_id=ctx.release_id, environment_id=ctx.environment_id, check_item_id=ctx.check_id
        )
        .select_related("ticked_by")
        .order_by("-created_at", "-id")
        .first()
    )
    return outcome_of_tick(tick, severity=ctx.severity, created_by_id=ctx.created_by_id)


def outcome_of_tick(tick: Any, *, severity: str, created_by_id: int | None) -> Outcome:
    """What the latest tick of a check says, with its attestation when it needs one."""
    from checks.evidence import needs_attestation

    if tick is None:
        return Outcome("pending", "Waiting for someone to tick it.")
    who = tick.ticked_by.get_username()
    if not tick.ticked:
        return Outcome(
            "pending",
            f"Unticked by {who}: waiting for someone to tick it.",
            source="person",
            user_id=tick.ticked_by_id,
        )
    detail = f"Ticked by {who}" + (f": {tick.note}" if tick.note else ".")
    attested_by = None
    if needs_attestation(
        severity=severity, created_by_id=created_by_id, ticked_by_id=tick.ticked_by_id
    ):
        attestation = (
            tick.attestations.filter(withdrawn_at__isnull=True)
            .select_related("attested_by")
            .first()
        )
        if attestation is None:
            return Outcome(
                "pending",
                f"{detail} Awaiting attestation: a critical check ticked by the release's "
                "creator counts once another person attests it.",
                evidence_url=tick.evidence_url,
                source="person",
                user_id=tick.ticked_by_id,
            )
        attested_by = attestation.attested_by_id
        detail += f" Attested by {attestation.attested_by.get_username()}" + (
            f": {attestation.note}" if attestation.note else "."
        )
    return Outcome(
        "pass",
        detail,
        evidence_url=tick.evidence_url,
        source="person",
        user_id=tick.ticked_by_id,
        attested_by_id=attested_by,
    )


KIND = register(
    Kind(
        name="manual",
        description="Ticked by a person, with a note and an evidence link.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
