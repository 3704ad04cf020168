"""The fleet load model: it runs gcp2aws's real schedule code, is deterministic, agrees with
the arithmetic of the refresh windows, and its published figures are the ones in the docs."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import pytest

from gcp2aws.delivery import schedule
from tests.support.repo import REPO

MODEL_PATH = REPO / "bench" / "fleet_model.py"
RESULTS = REPO / "bench" / "results" / "fleet_model.json"
DOCS = REPO / "docs" / "gke.md"


@pytest.fixture(scope="module")
def model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fleet_model", MODEL_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fleet_model"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_uses_the_schedule_functions_of_gcp2aws(
    model: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, int] = {"token": 0, "credentials": 0}
    real_token, real_credentials = schedule.token_refresh_at, schedule.credentials_refresh_at

    def token_spy(*args: Any, **kwargs: Any) -> float:
        calls["token"] += 1
        return real_token(*args, **kwargs)

    def credentials_spy(*args: Any, **kwargs: Any) -> float:
        calls["credentials"] += 1
        return real_credentials(*args, **kwargs)

    monkeypatch.setattr(schedule, "token_refresh_at", token_spy)
    monkeypatch.setattr(schedule, "credentials_refresh_at", credentials_spy)
    model.steady_state("token-file", 20, jitter=True, seed=1)
    assert calls["token"] > 20
    model.steady_state("endpoint", 20, jitter=True, seed=1)
    assert calls["credentials"] > 20
    # Not a copy: the model's source defines no refresh arithmetic of its own.
    source = MODEL_PATH.read_text()
    assert "jitter_fraction * remaining" not in source
    assert "def _refresh_at" not in source


def test_deterministic_for_a_seed(model: ModuleType) -> None:
    first = model.rollout("endpoint", 500, jitter=True, seed=7)
    again = model.rollout("endpoint", 500, jitter=True, seed=7)
    other = model.rollout("endpoint", 500, jitter=True, seed=8)
    assert first == again
    assert first["_sts_series"] != other["_sts_series"]


def test_steady_rates_match_the_refresh_windows(model: ModuleType) -> None:
    pods = 3000
    token_file = model.steady_state("token-file", pods, jitter=True, seed=2)
    endpoint = model.steady_state("endpoint", pods, jitter=True, seed=2)
    # Token-file: a token every 3600 - lead - jitter (mean half of 10% of 3600) seconds; the
    # SDK calls STS every 3600 - 900 seconds.
    token_interval = 3600 - schedule.TOKEN_LEAD - schedule.JITTER_FRACTION * 3600 / 2
    assert token_file["metadata_calls_per_pod_per_hour"] == pytest.approx(
        3600 / token_interval, rel=0.03
    )
    assert token_file["sts_mean_per_s"] == pytest.approx(pods / 2700, rel=0.03)
    # Endpoint: one token and one STS call per credential refresh, just inside the window plus
    # a mean jitter of half of 10% of the time until the window.
    until_window = 3600 - schedule.REFRESH_WINDOW
    refresh_interval = (
        until_window * (1 + schedule.JITTER_FRACTION / 2) + schedule.WINDOW_ENTRY_MARGIN
    )
    assert endpoint["metadata_calls_per_pod_per_hour"] == pytest.approx(
        3600 / refresh_interval, rel=0.03
    )
    assert endpoint["sts_mean_per_s"] == pytest.approx(pods / refresh_interval, rel=0.03)


def test_jitter_spreads_the_waves_after_a_rollout(model: ModuleType) -> None:
    on = model.rollout("endpoint", 3000, jitter=True, seed=3)
    off = model.rollout("endpoint", 3000, jitter=False, seed=3)
    # The restart itself is the same wave (only the old pods' last calls differ); the refresh
    # waves after it are not.
    first_on, first_off = max(on["_sts_series"][:600]), max(off["_sts_series"][:600])
    assert abs(first_on - first_off) <= 0.05 * first_off
    assert on["sts_peak_per_s_after_10_min"] * 2 < off["sts_peak_per_s_after_10_min"]
    # In the token-file pattern the SDK, not gcp2aws, times STS calls: jitter moves only the
    # metadata calls.
    tf_on = model.rollout("token-file", 3000, jitter=True, seed=3)
    tf_off = model.rollout("token-file", 3000, jitter=False, seed=3)
    assert tf_on["_sts_series"] == tf_off["_sts_series"]
    assert (
        tf_on["metadata_peak_per_s_after_10_min"] * 2 < tf_off["metadata_peak_per_s_after_10_min"]
    )


def test_endpoint_pattern_refreshes_when_serve_does(
    model: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gcp2aws.delivery import server
    from gcp2aws.models import AwsCredentials

    now = 1_700_000_000.0
    expiration = now + model.CREDENTIALS_LIFETIME
    creds = AwsCredentials(
        "ASIAMODEL", "s", "t", datetime.fromtimestamp(expiration, tz=timezone.utc)
    )
    # serve's refresh loop (server.refresh_delay) runs schedule.credentials_refresh_at ...
    seen: list[tuple[Any, ...]] = []
    real = schedule.credentials_refresh_at

    def spy(*args: Any, **kwargs: Any) -> float:
        seen.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(schedule, "credentials_refresh_at", spy)
    by_serve = now + server.refresh_delay(
        creds, now, float(schedule.REFRESH_WINDOW), random.Random(5)
    )
    assert seen
    # ... and the model's endpoint pattern lands on the same instant for the same draws.
    by_model = model.gcp2aws_schedules(jitter=True).credentials(expiration, now, random.Random(5))
    assert by_model == pytest.approx(by_serve, abs=1e-3)
    assert len(seen) == 2
    docs = " ".join(DOCS.read_text().split())
    assert "without jitter (`gcp2aws.server.refresh_delay`)" not in docs
    assert "`gcp2aws serve` refreshes on `gcp2aws.schedule.credentials_refresh_at`" in docs


def test_first_minute_peak_grows_with_the_rollout(model: ModuleType) -> None:
    small = model.first_minute_peak("endpoint", 6000, seed=1)
    large = model.first_minute_peak("endpoint", 60000, seed=1)
    assert 100 <= small < 200
    assert large >= 1000


def test_published_figures_are_in_the_docs() -> None:
    results = json.loads(RESULTS.read_text())
    docs = DOCS.read_text()
    assert results["sts_quota_rps"] == 600
    assert results["sts_quota_source"] in docs
    assert "quota figure as documented at the time of writing" in docs
    assert "python bench/fleet_model.py" in docs
    assert "](fleet-model.png)" in docs
    assert (REPO / "docs" / "fleet-model.png").stat().st_size > 10_000
    for pattern, cases in results["rollout"].items():
        for case in cases.values():
            row = f"| {case['sts_peak_per_s']} | {case['sts_peak_per_s_after_10_min']} |"
            assert row in docs, (pattern, row)
    for pattern, rows in results["steady"].items():
        big = rows[-1]
        assert big["pods"] == 100_000
        assert f"{big['sts_mean_per_s']:.2f} / {big['sts_peak_per_s']}" in docs, pattern


def test_plot_is_written_deterministically(model: ModuleType, tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    rng_state = random.getstate()
    results = {
        "steady": {
            p: [model.steady_state(p, n, jitter=True, seed=1) for n in (1, 10)]
            for p in model.PATTERNS
        },
        "rollout": {
            p: {
                "jitter_on": model.rollout(p, 200, jitter=True, seed=1),
                "jitter_off": model.rollout(p, 200, jitter=False, seed=1),
            }
            for p in model.PATTERNS
        },
    }
    assert random.getstate() == rng_state  # the model never touches the global generator
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    model.plot(results, first)
    model.plot(results, second)
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.read_bytes() == second.read_bytes()
