from __future__ import annotations

from itertools import islice

import pytest
from preflight_client.backoff import delays, within
from preflight_client.waiting import wait_for

from .conftest import FakeClock


def test_delays_double_until_the_cap_and_stay_there():
    schedule = list(islice(delays(0.5, cap=8, jitter=0), 8))
    assert schedule == [0.5, 1, 2, 4, 8, 8, 8, 8]


def test_a_first_delay_above_the_cap_is_cut_to_the_cap():
    assert list(islice(delays(60, cap=30, jitter=0), 2)) == [30, 30]


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_only_shortens_so_the_cap_is_a_ceiling(draw):
    schedule = list(islice(delays(1, cap=4, jitter=0.2, rand=lambda: draw), 5))
    plain = [1, 2, 4, 4, 4]
    assert all(p * 0.8 <= d <= p for d, p in zip(schedule, plain, strict=True))
    assert schedule[0] == pytest.approx(1 - 0.2 * draw)


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"initial": 1, "cap": 0}, {"initial": 1, "factor": 0.5}]
)
def test_nonsense_schedules_are_refused(kwargs):
    with pytest.raises(ValueError, match="positive"):
        next(delays(**kwargs))


def test_within_never_waits_past_the_deadline_nor_negatively():
    assert within(8, 3) == 3
    assert within(2, 3) == 2
    assert within(2, -1) == 0


def test_wait_for_stops_as_soon_as_the_answer_is_yes():
    answers = iter([False, False, True, False])
    clock = FakeClock()
    answer, done = wait_for(
        lambda: next(answers),
        bool,
        timeout=100,
        interval=1,
        max_interval=30,
        sleep=clock.sleep,
        clock=clock,
    )
    assert (answer, done) == (True, True)
    assert len(clock.sleeps) == 2


def test_wait_for_polls_with_backoff_and_asks_once_more_at_the_deadline():
    asked = []
    clock = FakeClock()

    def fetch() -> bool:
        asked.append(clock.now)
        return False

    _answer, done = wait_for(
        fetch, bool, timeout=20, interval=2, max_interval=6, sleep=clock.sleep, clock=clock
    )
    assert done is False
    # About 2, 4, 6 (the cap), 6 (jitter shortens each by up to 10 %), then whatever is left:
    # the last question is asked at the deadline, not after it.
    plain = [2, 4, 6, 6]
    assert all(0.9 * p <= s <= p for s, p in zip(clock.sleeps, plain, strict=False))
    assert len(clock.sleeps) == 5
    assert asked[-1] == pytest.approx(20)
    assert clock.now == pytest.approx(20)
