"""Polling until something is true or a deadline passes, with capped exponential backoff.

The clock and the sleep are parameters, so the loop is tested without waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .backoff import delays, within

T = TypeVar("T")


def wait_for(  # noqa: UP047 - the client runs on Python 3.10, without PEP 695
    fetch: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
    max_interval: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    progress: Callable[[T, float], None] = lambda _answer, _wait: None,
) -> tuple[T, bool]:
    """Fetch until ``done(answer)``; (last answer, True) then, or (last answer, False) once
    ``timeout`` seconds have passed. The last fetch happens at the deadline, not before it."""
    deadline = clock() + timeout
    waits = delays(interval, cap=max_interval)
    while True:
        answer = fetch()
        if done(answer):
            return answer, True
        remaining = deadline - clock()
        if remaining <= 0:
            return answer, False
        wait = within(next(waits), remaining)
        progress(answer, wait)
        sleep(wait)
