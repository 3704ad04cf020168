"""Injectable faults for the local emulators, and the thread-safe queue that hands them out."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status code and body (the emulator's usual headers included)."""

    code: int
    body: bytes = b""


@dataclass(frozen=True)
class Hang:
    """Read the request, wait ``seconds``, then close the connection without any reply."""

    seconds: float


@dataclass(frozen=True)
class Reset:
    """Send the status line, headers and part of the body, then reset the TCP connection."""


@dataclass(frozen=True)
class Drip:
    """Send a complete reply whose body goes out one byte every ``interval`` seconds.

    With ``headers=True`` the status line and headers drip too, so a client whose timeout
    restarts on every byte never even sees the status.
    """

    body: bytes
    interval: float
    status: int = 200
    headers: bool = False


@dataclass(frozen=True)
class Body:
    """Send exactly this reply (only ``Date`` and ``Content-Length`` are added)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    """Answer normally, but with a token whose claims are changed (``None`` values are dropped)."""

    claims_override: Mapping[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()

    def apply(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """Return a copy of ``claims`` with the override merged in and ``remove`` taken out."""
        merged = {**claims, **self.claims_override}
        return {k: v for k, v in merged.items() if k not in self.remove and v is not None}


@dataclass(frozen=True)
class StsError:
    """Answer like AWS STS does when it refuses: an ``ErrorResponse`` XML document."""

    code: str
    message: str
    status: int = 400
    type: str = "Sender"


Fault: TypeAlias = Status | Hang | Reset | Drip | Body | Token | StsError


@dataclass
class _Entry:
    fault: Fault
    remaining: int
    match: str
    exact: bool


class FaultQueue:
    """First-in, first-out faults, each applied to the next ``times`` requests it matches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def push(self, fault: Fault, *, times: int = 1, match: str = "", exact: bool = False) -> None:
        """Queue ``fault`` for the next ``times`` requests whose key starts with ``match``
        (or equals it, with ``exact``)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._entries.append(_Entry(fault, times, match, exact))

    def take(self, key: str) -> Fault | None:
        """Return the oldest fault matching ``key`` and use up one of its repetitions."""
        with self._lock:
            for entry in self._entries:
                hit = key == entry.match if entry.exact else key.startswith(entry.match)
                if hit:
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._entries.remove(entry)
                    return entry.fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(e.remaining for e in self._entries)
