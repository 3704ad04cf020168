"""Deadlines and jittered backoff shared by every network call gcp2aws makes."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def watchdog(deadline: Deadline, abort: Callable[[], None]) -> Iterator[None]:
    """Call ``abort`` (which closes the socket) when ``deadline`` runs out inside the block.

    A socket timeout restarts on every byte, so a server that drips its status line or
    headers one byte at a time would hold a read loop forever; this bounds the whole
    exchange from outside it. ``abort`` runs on a timer thread and must be thread-safe.
    """
    import threading  # off the cache-hit path, which never opens a socket

    timer = threading.Timer(deadline.remaining(), abort)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class _AlarmFired(BaseException):
    """Raised by the SIGALRM handler: a BaseException, so that botocore's ``except Exception``
    (which wraps anything into a retryable HTTPClientError) lets it through."""


@contextlib.contextmanager
def alarm(deadline: Deadline, what: str) -> Iterator[None]:
    """Raise DeadlineExceededError in the main thread when ``deadline`` runs out in the block.

    For calls whose sockets are out of reach (botocore's and urllib3's connection pools):
    SIGALRM interrupts the blocking read, and the handler's exception unwinds it. An alarm
    already set (a test runner's timeout) is put back afterwards, less the time spent; if it
    would fire first, it is left alone. In a background thread, or without SIGALRM, this does
    nothing: those callers bound their waits another way.
    """
    import signal
    import threading

    if not hasattr(signal, "setitimer") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    budget = max(0.01, deadline.remaining())
    outer, _interval = signal.getitimer(signal.ITIMER_REAL)
    if outer and outer <= budget:
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise _AlarmFired

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        yield
    except _AlarmFired:
        raise DeadlineExceededError(
            f"{what}: no complete answer within {deadline.seconds:g}s"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # the outer alarm, with what was left of it
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - started)))
