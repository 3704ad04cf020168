"""Install signal handlers for the length of a ``with`` block, and put the old ones back."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

Handler = Callable[[int, object], None]
STOP_SIGNALS = ("SIGTERM", "SIGINT")


@contextmanager
def handling(handler: Handler, names: Iterable[str] = STOP_SIGNALS) -> Iterator[None]:
    """``handler`` for each named signal this platform has, restored on exit.

    Only the main thread may install handlers; elsewhere nothing is installed (the caller
    that runs us in a thread stops us its own way, e.g. by setting the event).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for name in names:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stopping(
    stop: threading.Event, names: Iterable[str] = STOP_SIGNALS
) -> AbstractContextManager[None]:
    """SIGTERM and SIGINT set ``stop`` (waking a waiter at once) instead of killing us."""
    return handling(lambda _signum, _frame: stop.set(), names)
