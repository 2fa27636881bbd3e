"""A person ticks it, with a note and an evidence link: what checklists are made of."""

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
    return outcome_of_tick(tick)


def outcome_of_tick(tick: Any) -> Outcome:
    if tick is None or not tick.ticked:
        return Outcome("pending", "Waiting for someone to tick it.")
    who = tick.ticked_by.get_username()
    detail = f"Ticked by {who}" + (f": {tick.note}" if tick.note else ".")
    return Outcome("pass", detail, evidence_url=tick.evidence_url)


KIND = register(
    Kind(
        name="manual",
        description="Ticked by a person, with a note and an evidence link.",
        io_bound=False,
        validate=validate,
        evaluate=evaluate,
    )
)
