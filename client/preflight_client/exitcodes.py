"""Exit codes of the ``preflight`` command. Pipelines branch on them, so they never change
meaning; docs/ci.md lists them."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # done; the gate is open; the run finished
    CLOSED = 1  # the gate is closed (also when --wait ran out of time); a run ended in error
    USAGE = 2  # bad arguments or missing configuration (PREFLIGHT_URL, PREFLIGHT_TOKEN)
    INVALID = 3  # the API refused the input: 400 (per-field messages), 405, 411, 413, 415, 422; a redirect
    AUTH = 4  # 401 (no, bad, expired or revoked token) or 403 (the role may not)
    NOT_FOUND = 5  # 404: unknown project, version, environment, run or deployment
    CONFLICT = 6  # 409 other than environment_busy: version registered for another commit, …
    BUSY = 7  # deploy: 409 environment_busy (a deployment in progress, a lock, a freeze)
    GATE_CLOSED = 8  # deploy: 412 gate_closed
    UNAVAILABLE = 9  # no answer, or still 5xx / 429 / request_in_flight, after the retries
    TIMEOUT = 10  # run --wait: the run was still going when the timeout ran out


def for_status(status: int, code: str = "") -> Exit:
    """The exit code for an API error answer."""
    if status == 409:
        if code == "request_in_flight":  # the first request with the key was still running
            return Exit.UNAVAILABLE
        return Exit.BUSY if code == "environment_busy" else Exit.CONFLICT
    if status == 412:
        return Exit.GATE_CLOSED
    if status in (401, 403):
        return Exit.AUTH
    if status == 404:
        return Exit.NOT_FOUND
    if status >= 500 or status == 429:
        return Exit.UNAVAILABLE
    return Exit.INVALID
