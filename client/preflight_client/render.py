"""How answers read as text. The API's JSON is the contract; this only has to be clear."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .transport import ApiError


def reason_text(reason: Any) -> str:
    """A gate reason: the API sends {code, message}; plain strings are shown as they are."""
    if isinstance(reason, Mapping):
        return str(reason.get("message") or reason.get("detail") or reason.get("code") or reason)
    return str(reason)


def _count(value: Any) -> int:
    """Approvals may be counted or listed by name."""
    if isinstance(value, list | tuple):
        return len(value)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _score(value: Any) -> str:
    return "none" if value is None or value == "" else str(value)


def gate_lines(gate: Mapping[str, Any], title: str) -> list[str]:
    approvals = gate.get("approvals") or {}
    facts = (
        f"score {_score(gate.get('score'))} (min {_score(gate.get('min_score'))}), "
        f"approvals {_count(approvals.get('granted'))}/{_count(approvals.get('required'))}"
    )
    if gate.get("allowed"):
        return [f"Gate open: {title}: {facts}."]
    reasons = [reason_text(r) for r in gate.get("reasons") or []]
    lines = [f"Gate closed: {title}: {facts}. {len(reasons)} reason(s):"]
    lines += [f"  - {r}" for r in reasons] or ["  - (Preflight gave no reason)"]
    for blocker in gate.get("blockers") or []:
        if isinstance(blocker, Mapping):
            lines.append(
                f"  blocker {blocker.get('check')} ({blocker.get('severity')}, "
                f"{blocker.get('status')}): {blocker.get('title', '')}"
            )
    return lines


def run_line(run: Mapping[str, Any]) -> str:
    line = f"Run {run.get('id')} {run.get('status')}"
    if run.get("score") is not None:
        line += f": score {run['score']}"
    failing = [
        r
        for r in run.get("results") or []
        if isinstance(r, Mapping) and r.get("status") in ("fail", "error", "pending")
    ]
    if failing:
        line += f", {len(failing)} check(s) not passing"
    return line + "."


def error_lines(error: ApiError) -> list[str]:
    """One line with status, code, detail and per-field messages; then the reasons a gate is
    closed or what holds a busy environment, one per line, when the answer has them."""
    lines = [f"preflight: {error.one_line()}"]
    body = error.body if isinstance(error.body, Mapping) else {}
    lines += [f"  - {reason_text(r)}" for r in body.get("reasons") or []]
    holds = body.get("holds") or []
    lines += [f"  - {reason_text(h)}" for h in holds]
    holder = body.get("holder")
    if holder and not holds:
        lines.append(f"  held by: {reason_text(holder)}")
    return lines
