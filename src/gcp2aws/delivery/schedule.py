"""When to refresh: pure, deterministic-given-an-rng timing math for tokens and credentials.

Used by ``token --write --watch`` (tokens), ``serve`` (credentials) and the fleet model in
bench/fleet_model.py. Jitter spreads a fleet's refreshes so that instances started together do
not refresh together.
"""

from __future__ import annotations

import random

# Refresh an ID token at least this long before its exp.
TOKEN_LEAD = 300.0
# Refresh AWS credentials with this much left (botocore's 15-minute window + 5 minutes).
REFRESH_WINDOW = 1200.0
JITTER_FRACTION = 0.1
# Credentials are refreshed this long after they enter the window, so the provider's cache,
# which serves a set only while more than the window is left, is sure to let the refresh through.
WINDOW_ENTRY_MARGIN = 0.05
# Credential jitter stays inside this share of the window, so a 1200 s window leaves >= 900 s.
WINDOW_JITTER_SHARE = 0.25
# Credentials shorter than the window are paced at half their life, but never faster than this.
MIN_REFRESH_DELAY = 1.0
RETRY_BASE = 1.0
RETRY_CAP = 60.0


def _refresh_at(
    expires: float, now: float, *, lead: float, jitter_fraction: float, rng: random.Random
) -> float:
    remaining = expires - now
    if remaining <= 0:
        return now
    # Short lifetimes (tests, tight policies) cannot honour the full lead: refresh halfway.
    effective_lead = min(lead, remaining / 2)
    jitter = rng.uniform(0.0, jitter_fraction * remaining)
    return min(expires, max(now, expires - effective_lead - jitter))


def token_refresh_at(
    exp: float,
    now: float,
    *,
    lead: float = TOKEN_LEAD,
    jitter_fraction: float = JITTER_FRACTION,
    rng: random.Random,
) -> float:
    """Epoch time to refresh a token expiring at ``exp``: ``lead`` seconds early, minus jitter.

    The jitter is up to ``jitter_fraction`` of the remaining lifetime, so a 1-hour token is
    refreshed 5 to 11 minutes before it expires. A token with less than ``2 * lead`` left is
    refreshed at about half its remaining life. Never in the past, never after ``exp``.
    """
    return _refresh_at(exp, now, lead=lead, jitter_fraction=jitter_fraction, rng=rng)


def credentials_refresh_at(
    expiration: float,
    now: float,
    *,
    window: float = REFRESH_WINDOW,
    jitter_fraction: float = JITTER_FRACTION,
    rng: random.Random | None = None,
) -> float:
    """Epoch time to refresh AWS credentials expiring at ``expiration``: just inside the window.

    ``CredentialProvider.get`` answers from its cache while more than ``window`` seconds are
    left, so the refresh is timed just after the credentials enter the window: one exchange,
    and other processes sharing the cache find the new set on disk (an earlier wake-up would
    only re-read the cache). Jitter goes *after* that point: up to ``jitter_fraction`` of the
    time until the window, capped so the refresh happens with at least ``0.75 * window`` left
    (900 s for the default window: botocore's advisory refresh window). ``rng=None`` or
    ``jitter_fraction=0`` means no jitter.

    Credentials that already have ``window`` or less left would be due at once, forever: they
    are refreshed after half their remaining life, and never sooner than ``MIN_REFRESH_DELAY``.
    """
    remaining = expiration - now
    if remaining <= window:
        return now + max(MIN_REFRESH_DELAY, remaining / 2)
    latest = expiration - (1.0 - WINDOW_JITTER_SHARE) * window
    entered = expiration - window + WINDOW_ENTRY_MARGIN
    spread = min(jitter_fraction * (remaining - window), latest - entered)
    jitter = rng.uniform(0.0, spread) if rng is not None and spread > 0 else 0.0
    # A window too small for the margin still refreshes inside it (with 0 left at worst).
    return min(entered + jitter, latest)


def is_stale(exp: float | None, now: float, *, lead: float = TOKEN_LEAD) -> bool:
    """True when a token should be replaced now: no exp, or at most ``lead`` seconds left."""
    return exp is None or exp - now <= lead


def retry_delay(
    failures: int,
    *,
    rng: random.Random,
    base: float = RETRY_BASE,
    cap: float = RETRY_CAP,
    until: float | None = None,
) -> float:
    """Seconds to wait after ``failures`` consecutive failures (1, 2, ...): jittered backoff.

    Equal jitter (half fixed, half random) so a failing watcher never spins. ``until`` (seconds
    left before the current token expires) shortens the wait so a retry happens in time.
    """
    ceiling = min(cap, base * 2.0 ** max(0, failures - 1))
    delay = ceiling / 2 + rng.uniform(0.0, ceiling / 2)
    if until is not None and until > 0:
        delay = min(delay, max(base / 2, until / 2))
    return delay
