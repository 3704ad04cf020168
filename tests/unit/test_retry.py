"""retry: the deadline clips every wait, backoff is full-jitter and capped."""

from __future__ import annotations

import random

import pytest

from gcp2aws.errors import DeadlineExceededError
from gcp2aws.retry import Deadline, backoff_delays, sleep_within


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deadline_counts_down_on_the_injected_clock() -> None:
    clock = FakeClock()
    deadline = Deadline(5, clock=clock)
    assert deadline.remaining() == 5
    clock.now += 3
    assert deadline.remaining() == 2
    clock.now += 10
    assert deadline.remaining() == 0
    assert deadline.expired()


def test_clip_never_exceeds_the_budget_and_never_reaches_zero() -> None:
    clock = FakeClock()
    deadline = Deadline(2, clock=clock)
    assert deadline.clip(10) == 2
    assert deadline.clip(0.5) == 0.5
    clock.now += 5
    assert deadline.clip(10) == 0.01


def test_check_raises_the_deadline_error_only_once_expired() -> None:
    clock = FakeClock()
    deadline = Deadline(1, clock=clock)
    deadline.check("metadata")
    clock.now += 1
    with pytest.raises(DeadlineExceededError, match="metadata: gave up after 1s"):
        deadline.check("metadata")


def test_backoff_is_jittered_below_an_exponential_cap() -> None:
    delays = backoff_delays(base=0.1, cap=1.0, rng=random.Random(7))
    taken = [next(delays) for _ in range(12)]
    for attempt, delay in enumerate(taken):
        assert 0 <= delay <= min(1.0, 0.1 * 2**attempt)
    assert len(set(taken)) == len(taken)  # jittered, not a fixed schedule


def test_sleep_within_refuses_a_sleep_the_budget_cannot_afford() -> None:
    clock = FakeClock()
    slept: list[float] = []
    deadline = Deadline(1, clock=clock)
    assert sleep_within(deadline, 0.5, slept.append)
    assert not sleep_within(deadline, 1.5, slept.append)
    assert slept == [0.5]


def test_alarm_interrupts_a_blocking_read_and_puts_an_outer_alarm_back() -> None:
    import signal
    import socket
    import time

    from gcp2aws.errors import DeadlineExceededError
    from gcp2aws.retry import Deadline, alarm

    outer_remaining_before = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, if any
    left, right = socket.socketpair()
    try:
        started = time.monotonic()
        with (
            pytest.raises(DeadlineExceededError, match=r"no complete answer within 0\.3s"),
            alarm(Deadline(0.3), "a silent peer"),
        ):
            left.recv(1)  # blocks: nothing is ever sent
        assert time.monotonic() - started < 5
    finally:
        left.close()
        right.close()
    if outer_remaining_before:
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= outer_remaining_before
    else:
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
