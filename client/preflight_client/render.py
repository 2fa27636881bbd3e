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
    # The reasons name every critical blocker already; --json has the blockers' details.
    return lines + ([f"  - {r}" for r in reasons] or ["  - (Preflight gave no reason)"])


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
    # Each thing holding a busy environment, unless the detail already said it.
    lines += [f"  - {reason_text(h)}" for h in holds if reason_text(h) not in error.detail]
    holder = body.get("holder")
    if holder and not holds:
        lines.append(f"  held by: {reason_text(holder)}")
    return lines


def _deployment(state: Mapping[str, Any]) -> str:
    deployment = state.get("latest_deployment")
    if not isinstance(deployment, Mapping):
        return "not deployed"
    return f"deployment {deployment.get('id')} {deployment.get('status')}"


def _run(state: Mapping[str, Any]) -> str:
    run = state.get("latest_run")
    if not isinstance(run, Mapping):
        return "no run"
    score = "" if run.get("score") is None else f" (score {run['score']})"
    return f"run {run.get('id')} {run.get('status')}{score}"


def release_lines(release: Mapping[str, Any], environment: str = "") -> list[str]:
    """A release's state per environment, in promotion order."""
    sha = str(release.get("git_sha", ""))[:12]
    lines = [f"{release.get('project')} {release.get('version')} ({sha})"]
    for state in release.get("environments") or []:
        if environment and state.get("environment") != environment:
            continue
        lines.append(
            f"  {state.get('environment')}: {_run(state)}; {_deployment(state)}; "
            f"approvals {state.get('approvals', 0)}, rejections {state.get('rejections', 0)}"
        )
        for stale in state.get("stale_approvals") or []:
            if isinstance(stale, Mapping):
                lines.append(
                    f"    approval by {stale.get('approver')} is stale: {stale.get('reason')}"
                )
    return lines
