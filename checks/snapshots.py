"""What an approver saw, and whether the evidence has moved for the worse since (the gate's
rule 4, PRODUCT.md).

An approval records a snapshot of the run it was given on: the score and each check's status by
code, waivers applied. It stays valid while the evidence as it stands now — the latest readiness
run, however it got there: a later run, or ticks, CI reports, attestations and waivers changing
the same run in place, or a waiver running out — is at least as good: the score is not lower,
every check that was ``pass`` is still ``pass``, and every check that was ``waived`` is ``pass``
or ``waived``. A check that passed and is no longer evaluated at all counts as moved: its
evidence is gone; so does a score where the approver saw none (a run without checks, or an
approval recorded without its evidence). Anything else (a warning that became a pass, a new check that passes, a score
that rose) keeps the approval, so re-running an unchanged release does not ask for approvals
again.

Pure functions over plain values; ``checks.gate`` applies them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import scoring
from .evaluation import RunEvaluation

# What each status may become and still be the evidence the approver relied on. Other statuses
# (warn, fail, error, pending, skipped) are judged through the score alone.
STILL_GOOD: dict[str, frozenset[str]] = {
    "pass": frozenset({"pass"}),
    "waived": frozenset({"pass", "waived"}),
}
NOT_EVALUATED = "not evaluated"
NAMED = 5  # checks named in a reason; the rest are counted


@dataclass(frozen=True)
class Snapshot:
    score: Decimal | None
    statuses: Mapping[str, str] = field(default_factory=dict)  # check code → status

    @classmethod
    def of(cls, evaluation: RunEvaluation) -> Snapshot:
        return cls(
            score=evaluation.overall,
            statuses={item.check.code: item.status for item in evaluation.results},
        )

    @classmethod
    def stored(cls, score: Decimal | None, evidence: Mapping[str, Any]) -> Snapshot:
        return cls(score=score, statuses={str(k): str(v) for k, v in (evidence or {}).items()})

    def fingerprint(self, run_id: int) -> str:
        """A short digest of the evidence, for a page to say what it showed when someone
        approves from it."""
        canonical = json.dumps(
            [run_id, None if self.score is None else str(self.score), sorted(self.statuses.items())]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def moved(seen: Snapshot, now: Snapshot) -> list[str]:
    """What got worse between the evidence an approver saw and the evidence now, in words
    ("score 92.0 → 88.5", "DS-003 pass → fail"); empty when nothing did."""
    changes = []
    if seen.score is None:
        if now.score is not None:
            changes.append(f"score none → {now.score}")
    elif now.score is None or now.score < seen.score:
        changes.append(f"score {seen.score} → {now.score if now.score is not None else 'none'}")
    checks = []
    for code in sorted(seen.statuses):
        was = seen.statuses[code]
        if was not in STILL_GOOD:
            continue
        status = now.statuses.get(code, NOT_EVALUATED)
        if status not in STILL_GOOD[was]:
            checks.append(f"{code} {was} → {status}")
    if len(checks) > NAMED:
        checks = [*checks[:NAMED], f"{len(checks) - NAMED} more check(s) no longer pass"]
    return changes + checks


def describe(changes: list[str]) -> str:
    return "; ".join(changes)


def if_status(evaluation: RunEvaluation, code: str, status: str) -> Snapshot:
    """The evidence as it would be if check ``code`` had ``status`` (its effective status,
    waivers applied): what a page asks before a change it could warn about."""
    infos = [scoring.CategoryInfo(c.key, c.name, c.weight) for c in evaluation.categories]
    scored = [
        scoring.Scored(
            category=item.category.key,
            severity=item.severity,
            status=status if item.check.code == code else item.status,
        )
        for item in evaluation.results
    ]
    statuses = {item.check.code: item.status for item in evaluation.results}
    if code in statuses:
        statuses[code] = status
    return Snapshot(score=scoring.score(infos, scored).overall, statuses=statuses)


def stale_if(approvals: Iterable[tuple[str, Snapshot]], then: Snapshot) -> list[tuple[str, str]]:
    """Which of these approvals (who, what they saw) the evidence ``then`` would make stale,
    each with what would move; empty when none would."""
    return [(who, describe(changes)) for who, seen in approvals if (changes := moved(seen, then))]
