"""The GCE metadata token source against the local metadata emulator (no mocks)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from gcp2aws.emulator.faults import Body, Drip, Hang, Reset, Status, Token
from gcp2aws.emulator.metadata import IDENTITY_PATH, MetadataEmulator
from gcp2aws.errors import DeadlineExceededError, TokenInvalidError, TokenUnavailableError
from gcp2aws.idtoken import metadata as md
from gcp2aws.retry import Deadline

AUDIENCE = "sts.amazonaws.com"


def no_sleep(_seconds: float) -> None:
    pass


def source_for(emu: MetadataEmulator, **client: object) -> md.MetadataSource:
    kwargs: dict[str, object] = {"sleep": no_sleep, **client}
    return md.MetadataSource(emu.address, client=md.MetadataClient(emu.address, **kwargs))  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_sa() -> Iterator[MetadataEmulator]:
    with MetadataEmulator(has_service_account=False) as emu:
        yield emu


def test_fetch_full_format_token(metadata: MetadataEmulator) -> None:
    token = source_for(metadata).fetch(AUDIENCE, Deadline(5))
    assert token.aud == AUDIENCE
    assert token.azp == metadata.unique_id
    assert token.email == metadata.email
    assert token.instance_name == metadata.instance_name  # format=full was requested
    assert token.source == f"metadata ({metadata.address})"
    assert metadata.last_audience == AUDIENCE
    assert metadata.identity_calls == 1
    # The token really is the emulator's: its signature verifies.
    assert metadata.signer.verify(token.raw)["aud"] == AUDIENCE


def test_fetch_without_compute_engine_claims() -> None:
    with MetadataEmulator(compute_engine_claims=False) as emu:
        token = source_for(emu).fetch(AUDIENCE, Deadline(5))
    assert token.instance_name == ""
    assert token.email == emu.email


def test_retries_a_503_once(metadata: MetadataEmulator) -> None:
    metadata.inject(Status(503, b"busy"))
    token = source_for(metadata).fetch(AUDIENCE, Deadline(5))
    assert token.aud == AUDIENCE
    assert metadata.identity_calls == 2


@pytest.mark.parametrize("fault", [Status(429), Status(500), Reset(), Hang(5)])
def test_retries_transient_faults(metadata: MetadataEmulator, fault: object) -> None:
    metadata.inject(fault)  # type: ignore[arg-type]
    token = source_for(metadata, attempt_timeout=0.5).fetch(AUDIENCE, Deadline(5))
    assert token.aud == AUDIENCE
    assert metadata.identity_calls == 2


def test_persistent_503_gives_up_after_max_attempts(metadata: MetadataEmulator) -> None:
    metadata.inject(Status(503), times=10)
    with pytest.raises(TokenUnavailableError, match=r"after 5 attempts \(HTTP 503\)") as info:
        source_for(metadata).fetch(AUDIENCE, Deadline(5))
    assert info.value.transient is True
    assert metadata.identity_calls == md.MAX_ATTEMPTS


def test_no_service_account_is_404(no_sa: MetadataEmulator) -> None:
    with pytest.raises(TokenUnavailableError, match="no service account") as info:
        source_for(no_sa).fetch(AUDIENCE, Deadline(5))
    assert "Workload Identity" in info.value.hint
    assert no_sa.identity_calls == 1  # a 404 is not retried


def test_403_is_explained(metadata: MetadataEmulator) -> None:
    metadata.inject(Status(403, b"<html>Forbidden</html>"))
    with pytest.raises(TokenUnavailableError, match="HTTP 403") as info:
        source_for(metadata).fetch(AUDIENCE, Deadline(5))
    assert "NO_PROXY" in info.value.hint


def test_other_status_reports_first_line(metadata: MetadataEmulator) -> None:
    metadata.inject(Status(400, b"non-empty audience parameter required\nmore"))
    with pytest.raises(TokenUnavailableError, match="HTTP 400: non-empty audience"):
        source_for(metadata).fetch(AUDIENCE, Deadline(5))


def test_missing_metadata_flavor_header(metadata: MetadataEmulator) -> None:
    good = metadata.signer.sign(metadata.identity_claims(AUDIENCE, full=True))
    metadata.inject(Body(200, good.encode()))  # no Metadata-Flavor: something else answered
    with pytest.raises(TokenUnavailableError, match="lacks the Metadata-Flavor"):
        source_for(metadata).fetch(AUDIENCE, Deadline(5))


def test_html_reply_is_token_invalid(metadata: MetadataEmulator) -> None:
    page = b"<!DOCTYPE html><html><body>Captive portal</body></html>"
    metadata.inject(Body(200, page, {"Metadata-Flavor": "Google"}))
    with pytest.raises(TokenInvalidError, match="HTML"):
        source_for(metadata).fetch(AUDIENCE, Deadline(5))


def test_token_claims_as_served(metadata: MetadataEmulator) -> None:
    metadata.inject(Token({"aud": "someone-else"}))
    token = source_for(metadata).fetch(AUDIENCE, Deadline(5))
    assert token.aud == "someone-else"  # the provider, not the source, checks the audience


def test_connection_refused() -> None:
    host = f"127.0.0.1:{closed_port()}"
    client = md.MetadataClient(host, sleep=no_sleep)
    with pytest.raises(TokenUnavailableError, match="connection refused") as info:
        md.MetadataSource(host, client=client).fetch(AUDIENCE, Deadline(5))
    assert "GCE_METADATA_HOST" in info.value.hint


def test_hang_runs_into_the_deadline(metadata: MetadataEmulator) -> None:
    metadata.inject(Hang(10), times=10)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="budget ran out"):
        md.MetadataSource(metadata.address).fetch(AUDIENCE, Deadline(0.5))
    # Bounded by the budget, not by the 10 s hang (generous: this is not a timing test).
    assert time.monotonic() - started < 5


def test_drip_feed_is_cut_by_the_attempt_budget(metadata: MetadataEmulator) -> None:
    good = metadata.signer.sign(metadata.identity_claims(AUDIENCE, full=True)).encode()
    metadata.inject(Drip(good, interval=0.05))
    token = source_for(metadata, attempt_timeout=0.3).fetch(AUDIENCE, Deadline(5))
    assert token.aud == AUDIENCE
    assert metadata.identity_calls == 2


def test_ping(metadata: MetadataEmulator) -> None:
    assert md.MetadataClient(metadata.address).ping() is True
    assert md.MetadataClient(f"127.0.0.1:{closed_port()}").ping(timeout=0.5) is False


def test_host_resolution() -> None:
    assert md.metadata_host({}) == "metadata.google.internal"
    assert md.metadata_host({"GCE_METADATA_ROOT": "legacy:1"}) == "legacy:1"
    assert md.metadata_host({"GCE_METADATA_HOST": "h:2", "GCE_METADATA_ROOT": "legacy:1"}) == "h:2"
    assert md.detection_ip({}) == "169.254.169.254"
    assert md.detection_ip({"GCE_METADATA_IP": "127.0.0.1:9"}) == "127.0.0.1:9"


def test_detect(metadata: MetadataEmulator) -> None:
    closed = f"127.0.0.1:{closed_port()}"
    # An explicit host means "use it", without probing.
    found = md.detect({"GCE_METADATA_HOST": closed, "GCE_METADATA_IP": closed})
    assert found is not None
    assert found.host == closed
    # Forced: also without probing.
    assert md.detect({"GCE_METADATA_IP": closed}, forced=True) is not None
    # No host, but something answers as the metadata server at the detection address.
    probed = md.detect({"GCE_METADATA_IP": metadata.address})
    assert probed is not None
    assert probed.host == "metadata.google.internal"
    assert metadata.calls["/"] >= 1
    assert metadata.identity_calls == 0


def test_detect_nothing_there() -> None:
    assert md.detect({"GCE_METADATA_IP": f"127.0.0.1:{closed_port()}"}) is None


def test_identity_path_matches_the_emulator() -> None:
    assert md.IDENTITY_PATH == IDENTITY_PATH
