"""Refresh timing math: lead, jitter, short lifetimes, staleness and retry backoff."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcp2aws import schedule

NOW = 1_700_000_000.0


def test_one_hour_token_refreshes_5_to_11_minutes_early() -> None:
    rng = random.Random(1)
    times = [schedule.token_refresh_at(NOW + 3600, NOW, rng=rng) for _ in range(500)]
    assert all(NOW + 3600 - 300 - 360 <= t <= NOW + 3600 - 300 for t in times)
    # Jitter really spreads a fleet: not all at the same instant.
    assert max(times) - min(times) > 200


def test_deterministic_given_rng() -> None:
    a = schedule.token_refresh_at(NOW + 3600, NOW, rng=random.Random(7))
    b = schedule.token_refresh_at(NOW + 3600, NOW, rng=random.Random(7))
    assert a == b


def test_short_lifetime_refreshes_about_halfway() -> None:
    rng = random.Random(2)
    t = schedule.token_refresh_at(NOW + 10, NOW, rng=rng)
    assert NOW + 4 <= t <= NOW + 5


def test_expired_token_refreshes_now() -> None:
    assert schedule.token_refresh_at(NOW - 5, NOW, rng=random.Random(0)) == NOW


@given(
    remaining=st.floats(min_value=-100, max_value=50_000),
    lead=st.floats(min_value=0, max_value=5000),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_never_in_the_past_never_after_exp(
    remaining: float, lead: float, jitter: float, seed: int
) -> None:
    exp = NOW + remaining
    t = schedule.token_refresh_at(
        exp, NOW, lead=lead, jitter_fraction=jitter, rng=random.Random(seed)
    )
    assert t >= NOW
    assert t <= max(exp, NOW)
    if remaining > 0:
        # at least min(lead, half the remaining life) ahead of exp
        assert exp - t >= min(lead, remaining / 2) - 1e-6


def test_credentials_refresh_uses_the_window() -> None:
    rng = random.Random(3)
    t = schedule.credentials_refresh_at(NOW + 3600, NOW, rng=rng)
    assert NOW + 3600 - 1200 - 360 <= t <= NOW + 3600 - 1200


@pytest.mark.parametrize(
    ("exp", "stale"),
    [(None, True), (NOW + 100, True), (NOW + 300, True), (NOW + 301, False), (NOW - 1, True)],
)
def test_is_stale(exp: float | None, stale: bool) -> None:
    assert schedule.is_stale(exp, NOW, lead=300) is stale


def test_retry_delay_grows_and_is_capped() -> None:
    rng = random.Random(4)
    first = [schedule.retry_delay(1, rng=rng) for _ in range(50)]
    tenth = [schedule.retry_delay(10, rng=rng) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in first)
    assert all(30.0 <= d <= 60.0 for d in tenth)


def test_retry_delay_hurries_before_expiry() -> None:
    d = schedule.retry_delay(10, rng=random.Random(5), until=20)
    assert d <= 10
    # but never spins
    assert schedule.retry_delay(10, rng=random.Random(5), until=0.01) >= 0.5
