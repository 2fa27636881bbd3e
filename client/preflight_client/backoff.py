"""Waiting between attempts: exponential, capped, with a little jitter.

Pure functions, so the schedule is tested without sleeping. Jitter keeps a hundred pipelines
that started together from polling the server in lock-step."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def delays(
    initial: float,
    *,
    factor: float = 2.0,
    cap: float = 30.0,
    jitter: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> Iterator[float]:
    """initial, initial×factor, initial×factor², … never above ``cap``; each shortened by up to
    ``jitter`` (a fraction) at random, never lengthened, so ``cap`` is a true ceiling."""
    if initial <= 0 or factor < 1 or cap <= 0 or not 0 <= jitter < 1:
        raise ValueError("initial and cap must be positive, factor ≥ 1 and 0 ≤ jitter < 1")
    delay = min(initial, cap)
    while True:
        yield delay * (1 - jitter * rand())
        delay = min(delay * factor, cap)


def within(delay: float, remaining: float) -> float:
    """The delay shortened to what is left of a deadline (never negative), so the last check
    happens at the deadline rather than after it."""
    return max(0.0, min(delay, remaining))
