"""Rules about deploy scripts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...base import Outcome, need_number, str_list
from ..tree import SourceTree
from . import rule
from .files import matching_lines

# A fixed wait: `sleep 15` or `Start-Sleep -Seconds 15`. Short sleeps between polls of a readiness
# loop are how waiting should be done, so only waits of at least ``min_seconds`` count.
FIXED_SLEEP = re.compile(
    r"(?<![\w-])(?:sleep|Start-Sleep(?:\s+-(?:Seconds|s))?)\s+(\d+(?:\.\d+)?)([smh]?)\b",
    re.IGNORECASE,
)
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def _sleeps(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **config,
        "files": str_list(config, "files", required=False) or ["**/*.sh", "**/*.ps1"],
        "min_seconds": need_number(config, "min_seconds", default=5, minimum=0, maximum=3600),
    }


@rule("no_fixed_sleeps", keys={"files", "min_seconds"}, validate=_sleeps)
def no_fixed_sleeps(tree: SourceTree, config: Mapping[str, Any]) -> Outcome:
    minimum = float(config.get("min_seconds", 5))

    def fixed_wait(line: str) -> bool:
        return any(
            float(amount) * UNIT_SECONDS[unit.lower()] >= minimum
            for amount, unit in FIXED_SLEEP.findall(line)
        )

    found = matching_lines(tree, config["files"], fixed_wait)
    if found:
        return Outcome("fail", "Fixed sleeps instead of readiness checks: " + "; ".join(found[:10]))
    return Outcome("pass", "No fixed sleeps in the deploy scripts.")
