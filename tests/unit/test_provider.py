"""CredentialProvider in-process against the metadata emulator and the local STS: cache hits,
single flight, retries with a fresh token, stale-while-error, session names."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import provider as provider_mod
from gcp2aws import settings as settings_mod
from gcp2aws.cache import CredentialCache
from gcp2aws.emulator.faults import Status, StsError, Token
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.errors import StsDeniedError, TokenInvalidError
from gcp2aws.errors import StsError as StsFailure
from gcp2aws.provider import CredentialProvider
from tests.support.cli import ROLE_ARN

ACTION = "AssumeRoleWithWebIdentity"


def no_sleep(_seconds: float) -> None:
    pass


@pytest.fixture
def world(
    metadata: MetadataEmulator, local_sts: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[MetadataEmulator, Any]:
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.address)
    monkeypatch.setenv("GCE_METADATA_IP", metadata.address)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_sts.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return metadata, local_sts


def provider(tmp_path: Path, clock: Any = time.time, **cli: Any) -> CredentialProvider:
    values = {"role_arn": ROLE_ARN, "cache_dir": str(tmp_path / "cache"), **cli}
    settings = settings_mod.load(values, os.environ)
    return CredentialProvider(settings, clock=clock, sleep=no_sleep)


def test_exchange_then_cache_hit(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    first = provider(tmp_path).get()
    assert not first.from_cache
    assert first.token is not None
    assert first.credentials.assumed_role_arn == (
        "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"
    )
    second = provider(tmp_path).get()
    assert second.from_cache
    assert not second.stale
    assert second.payload == first.payload
    assert second.credentials.secret_access_key == first.credentials.secret_access_key
    assert (metadata.identity_calls, sts.calls[ACTION]) == (1, 1)


def test_no_cache_exchanges_every_time(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    provider(tmp_path, no_cache=True).get()
    provider(tmp_path, no_cache=True).get()
    assert sts.calls[ACTION] == 2
    assert not (tmp_path / "cache").exists()


def test_threads_share_one_exchange(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(provider(tmp_path).get().payload)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert sts.calls[ACTION] == 1


def test_metadata_503_once_is_retried(world: Any, tmp_path: Path) -> None:
    metadata, _sts = world
    metadata.inject(Status(503))
    assert provider(tmp_path).get().credentials.access_key_id
    assert metadata.identity_calls == 2


def test_verification_key_error_retries_with_a_fresh_token(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    sts.inject(
        StsError(
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider,  please reference "
            "AssumeRoleWithWebIdentity documentation for requirements",
        ),
        action=ACTION,
    )
    result = provider(tmp_path).get()
    assert result.credentials.access_key_id
    assert metadata.identity_calls == 2
    assert sts.calls[ACTION] == 2


def test_transient_sts_errors_give_up_after_bounded_attempts(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    sts.inject(
        StsError(
            "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"
        ),
        times=50,
    )
    with pytest.raises(StsFailure) as info:
        provider(tmp_path).get()
    assert info.value.code == "InvalidIdentityToken"
    assert metadata.identity_calls == 3  # EXCHANGE_ATTEMPTS fresh tokens, then give up
    assert sts.calls[ACTION] == 3


def test_access_denied_is_not_retried(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    sts.inject(
        StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    )
    with pytest.raises(StsDeniedError):
        provider(tmp_path).get()
    assert (metadata.identity_calls, sts.calls[ACTION]) == (1, 1)
    assert not any(n.endswith(".cred") for n in os.listdir(tmp_path / "cache"))


def test_wrong_audience_is_refused_before_sts(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    metadata.inject(Token({"aud": "someone-else"}))
    with pytest.raises(TokenInvalidError, match="not the requested"):
        provider(tmp_path).get()
    assert sts.calls[ACTION] == 0


def test_expired_token_is_refused_before_sts(world: Any, tmp_path: Path) -> None:
    metadata, sts = world
    now = int(time.time())
    metadata.inject(Token({"iat": now - 7200, "exp": now - 3600}))
    with pytest.raises(TokenInvalidError, match="expired"):
        provider(tmp_path).get()
    assert sts.calls[ACTION] == 0


def test_stale_while_error(world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _metadata, sts = world
    fresh = provider(tmp_path).get()
    life = fresh.credentials.remaining(time.time())
    # Ten minutes before expiry: inside the 20-minute refresh window, outside the 5-minute floor.
    later = time.time() + life - 600
    sts.inject(StsError("RegionDisabledException", "STS is not activated in this region", 403))
    with caplog.at_level(logging.WARNING, logger="gcp2aws"):
        stale = provider(tmp_path, clock=lambda: later).get()
    assert stale.from_cache
    assert stale.stale
    assert stale.payload == fresh.payload
    assert sts.calls[ACTION] == 2
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "refresh failed" in warning
    assert "RegionDisabledException" in warning
    assert fresh.credentials.secret_access_key not in warning


def test_an_outage_is_not_retried_by_every_caller(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    fresh = provider(tmp_path).get()
    now = [time.time() + fresh.credentials.remaining(time.time()) - 600]
    sts.inject(StsError("RegionDisabledException", "STS is not activated", 403), times=100)
    first = provider(tmp_path, clock=lambda: now[0]).get()
    assert first.stale
    calls_after_failure = sts.calls[ACTION]
    # Within the back-off, later callers serve the stale set without touching STS...
    for _ in range(5):
        now[0] += 1
        assert provider(tmp_path, clock=lambda: now[0]).get().stale
    assert sts.calls[ACTION] == calls_after_failure
    # ...and once it is over, one of them tries again.
    now[0] += provider_mod.FAILURE_BACKOFF
    assert provider(tmp_path, clock=lambda: now[0]).get().stale
    assert sts.calls[ACTION] == calls_after_failure + 1


def test_a_success_clears_the_failure_back_off(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    fresh = provider(tmp_path).get()
    now = time.time() + fresh.credentials.remaining(time.time()) - 600
    sts.inject(StsError("RegionDisabledException", "STS is not activated", 403))
    assert provider(tmp_path, clock=lambda: now).get().stale
    cache_files = sorted(p.suffix for p in (tmp_path / "cache").iterdir())
    assert ".fail" in cache_files
    # The back-off is over for a caller whose own window the entry has just entered.
    renewed = provider(tmp_path, clock=lambda: now + provider_mod.FAILURE_BACKOFF).get()
    assert not renewed.from_cache
    assert ".fail" not in sorted(p.suffix for p in (tmp_path / "cache").iterdir())


def test_stale_credentials_too_close_to_expiry_are_not_served(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    fresh = provider(tmp_path).get()
    later = time.time() + fresh.credentials.remaining(time.time()) - 200
    sts.inject(StsError("RegionDisabledException", "STS is not activated in this region", 403))
    with pytest.raises(StsFailure, match="RegionDisabledException"):
        provider(tmp_path, clock=lambda: later).get()


def test_refresh_inside_the_window(world: Any, tmp_path: Path) -> None:
    _metadata, sts = world
    first = provider(tmp_path).get()
    later = time.time() + first.credentials.remaining(time.time()) - 600
    second = provider(tmp_path, clock=lambda: later).get()
    assert not second.from_cache
    assert second.payload != first.payload
    third = provider(tmp_path).get()
    assert third.from_cache
    assert third.payload == second.payload  # the refreshed entry replaced the old one
    assert sts.calls[ACTION] == 2


def test_short_credentials_warn_about_the_window(
    world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gcp2aws"):
        provider(tmp_path, refresh_window="3600").get()
    assert "inside the 3600s refresh window" in caplog.text


def test_unsafe_cache_dir_runs_uncached(
    world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _metadata, _sts = world
    shared = tmp_path / "cache"
    shared.mkdir()
    os.chmod(shared, 0o777)  # noqa: S103 - the unsafe directory under test
    with caplog.at_level(logging.WARNING, logger="gcp2aws"):
        result = provider(tmp_path).get()
    assert result.credentials.access_key_id
    assert "running uncached" in caplog.text
    assert os.listdir(shared) == []


def test_cache_write_failure_is_only_a_warning(
    world: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(self: CredentialCache, entry: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(CredentialCache, "write", full_disk)
    with caplog.at_level(logging.WARNING, logger="gcp2aws"):
        result = provider(tmp_path).get()
    assert result.credentials.access_key_id
    assert "could not write the cache" in caplog.text


def test_explicit_session_name_wins(world: Any, tmp_path: Path) -> None:
    result = provider(tmp_path, role_session_name="explicit-name").get()
    assert result.credentials.assumed_role_arn is not None
    assert result.credentials.assumed_role_arn.endswith("/explicit-name")


@pytest.mark.parametrize(
    ("emulator_args", "session"),
    [
        ({"compute_engine_claims": False}, "gcp2aws-demo"),
        ({"instance_name": "web server #1 (prod)"}, "web-server--1--prod"),
        (
            {
                "compute_engine_claims": False,
                "email": "a-service-account-with-a-really-long-name-exceeding-limits@"
                "my-project.iam.gserviceaccount.com",
            },
            "a-service-account-with-a-really-long-name-exceeding-limits",
        ),
    ],
)
def test_default_session_name(
    local_sts: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_args: dict[str, Any],
    session: str,
) -> None:
    with MetadataEmulator(**emulator_args) as emu:
        monkeypatch.setenv("GCE_METADATA_HOST", emu.address)
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_sts.url)
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        result = provider(tmp_path, no_cache=True).get()
    arn = result.credentials.assumed_role_arn
    assert arn == f"arn:aws:sts::123456789012:assumed-role/gcp2aws-test/{session}"
