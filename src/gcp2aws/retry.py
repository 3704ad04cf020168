"""Deadlines and jittered backoff shared by every network call gcp2aws makes."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

from gcp2aws.errors import DeadlineExceededError


class Deadline:
    """A total time budget; every timeout and sleep is clipped to what is left of it."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def clip(self, timeout: float) -> float:
        """``timeout`` or what is left of the budget, whichever is smaller (at least 10 ms)."""
        return max(0.01, min(timeout, self.remaining()))

    def check(self, what: str) -> None:
        if self.expired():
            raise DeadlineExceededError(f"{what}: gave up after {self.seconds:g}s of retries")


def backoff_delays(
    *, base: float = 0.1, cap: float = 3.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Full-jitter exponential backoff (AWS architecture blog): uniform(0, min(cap, base*2^n))."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    attempt = 0
    while True:
        yield rng.uniform(0, min(cap, base * (2**attempt)))
        attempt += 1


def sleep_within(deadline: Deadline, delay: float, sleep: Callable[[float], None]) -> bool:
    """Sleep ``delay`` if the budget allows it; ``False`` when no time is left to try again."""
    if deadline.remaining() <= delay:
        return False
    sleep(delay)
    return True
