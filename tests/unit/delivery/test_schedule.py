"""Refresh timing math: lead, jitter, the credentials window, staleness and retry backoff."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcp2aws.delivery import schedule

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


def test_credentials_refresh_just_after_entering_the_window() -> None:
    # Unjittered: 50 ms inside the window, so the provider's cache lets the refresh through.
    t = schedule.credentials_refresh_at(NOW + 3600, NOW)
    assert t == pytest.approx(NOW + 2400.05)
    assert (
        schedule.credentials_refresh_at(NOW + 3600, NOW, rng=random.Random(1), jitter_fraction=0)
        == t
    )


def test_credentials_jitter_is_after_the_window_and_leaves_900_seconds() -> None:
    rng = random.Random(3)
    times = [schedule.credentials_refresh_at(NOW + 3600, NOW, rng=rng) for _ in range(500)]
    # Jitter: up to 10% of the 2400 s until the window (the 300 s cap binds from 3000 s on).
    assert all(NOW + 2400 < t <= NOW + 2400.05 + 240 for t in times)
    assert max(times) - min(times) > 200  # it really spreads a fleet
    long_lived = schedule.credentials_refresh_at(NOW + 43_200, NOW, rng=rng, jitter_fraction=1)
    assert NOW + 43_200 - 1200 < long_lived <= NOW + 43_200 - 900


def test_credentials_deterministic_given_rng() -> None:
    a = schedule.credentials_refresh_at(NOW + 3600, NOW, rng=random.Random(7))
    b = schedule.credentials_refresh_at(NOW + 3600, NOW, rng=random.Random(7))
    c = schedule.credentials_refresh_at(NOW + 3600, NOW, rng=random.Random(8))
    assert a == b
    assert a != c


def test_credentials_shorter_than_the_window_are_paced() -> None:
    assert schedule.credentials_refresh_at(NOW + 900, NOW, rng=random.Random(0)) == NOW + 450
    # Nearly or already expired: a minimum delay, never a busy loop.
    assert schedule.credentials_refresh_at(NOW + 1, NOW) == NOW + schedule.MIN_REFRESH_DELAY
    assert schedule.credentials_refresh_at(NOW - 60, NOW) == NOW + schedule.MIN_REFRESH_DELAY


def test_credentials_window_is_the_cli_default() -> None:
    from gcp2aws import options

    assert options.DEFAULT_REFRESH_WINDOW == schedule.REFRESH_WINDOW


@given(
    remaining=st.floats(min_value=-100, max_value=50_000),
    window=st.floats(min_value=0.001, max_value=5000),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_credentials_refresh_inside_the_window_never_late(
    remaining: float, window: float, jitter: float, seed: int
) -> None:
    expiration = NOW + remaining
    remaining = expiration - NOW  # what the function sees, after float rounding
    t = schedule.credentials_refresh_at(
        expiration, NOW, window=window, jitter_fraction=jitter, rng=random.Random(seed)
    )
    assert t > NOW
    if remaining > window:
        # Never before entering the window (the provider refreshes only with <= window left),
        # never later than a quarter of the way into it.
        assert expiration - t < window
        assert expiration - t >= 0.75 * window - 1e-6
    else:
        assert t - NOW == pytest.approx(max(schedule.MIN_REFRESH_DELAY, remaining / 2))


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
