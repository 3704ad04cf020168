"""Fault injection: the queue itself, and each fault type acted out by the metadata emulator."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import pytest

from gcp2aws.emulator.faults import Body, Drip, FaultQueue, Hang, Reset, Status, Token
from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.emulator import FLAVOR, request, shared_signer, verify_with_jwks

IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity?audience=aud"
EMAIL = "/computeMetadata/v1/instance/service-accounts/default/email"


@pytest.fixture
def emu() -> Iterator[MetadataEmulator]:
    with MetadataEmulator(signer=shared_signer(), clock=lambda: 1_800_000_000) as emu:
        yield emu


# -- the queue ----------------------------------------------------------------------------


def test_queue_is_fifo_and_counts_repetitions() -> None:
    queue = FaultQueue()
    queue.push(Status(500), times=2, match="a")
    queue.push(Status(503), match="a")
    assert len(queue) == 3
    assert [queue.take("a/b") for _ in range(4)] == [Status(500), Status(500), Status(503), None]


def test_queue_matches_prefix_or_exact_key() -> None:
    queue = FaultQueue()
    queue.push(Status(500), match="AssumeRole", exact=True)
    queue.push(Status(501), match="inst")
    assert queue.take("AssumeRoleWithWebIdentity") is None
    assert queue.take("instance/name") == Status(501)
    assert queue.take("AssumeRole") == Status(500)
    queue.push(Hang(1))
    assert queue.take("anything") == Hang(1)


def test_queue_rejects_zero_times_and_clears() -> None:
    queue = FaultQueue()
    with pytest.raises(ValueError, match="times"):
        queue.push(Status(500), times=0)
    queue.push(Status(500), times=5)
    queue.clear()
    assert queue.take("") is None


def test_token_fault_overrides_and_removes_claims() -> None:
    fault = Token({"aud": "other", "nbf": 5, "azp": None}, remove=("email",))
    assert fault.apply({"aud": "a", "email": "e", "azp": "1", "sub": "1"}) == {
        "aud": "other",
        "nbf": 5,
        "sub": "1",
    }


# -- faults on the wire -------------------------------------------------------------------


def test_status_fault_then_normal_service(emu: MetadataEmulator) -> None:
    emu.inject(Status(503, b"busy"), times=2)
    first, second, third = (request(emu.address, IDENTITY, headers=FLAVOR) for _ in range(3))
    assert (first.status, first.body) == (503, b"busy")
    assert first.headers["Metadata-Flavor"] == "Google"
    assert second.status == 503
    assert third.status == 200
    assert emu.identity_calls == 3


def test_faults_only_hit_their_path_prefix(emu: MetadataEmulator) -> None:
    emu.inject(Status(500), path_prefix="instance/service-accounts/default/email")
    assert request(emu.address, IDENTITY, headers=FLAVOR).status == 200
    assert request(emu.address, EMAIL, headers=FLAVOR).status == 500
    assert request(emu.address, EMAIL, headers=FLAVOR).status == 200


def test_header_check_comes_before_faults(emu: MetadataEmulator) -> None:
    emu.inject(Status(500))
    assert request(emu.address, IDENTITY).status == 403
    assert request(emu.address, IDENTITY, headers=FLAVOR).status == 500


def test_hang_closes_without_reply(emu: MetadataEmulator) -> None:
    emu.inject(Hang(0.2))
    with pytest.raises(http.client.RemoteDisconnected):
        request(emu.address, IDENTITY, headers=FLAVOR)
    assert request(emu.address, IDENTITY, headers=FLAVOR).status == 200


def test_hang_longer_than_client_timeout(emu: MetadataEmulator) -> None:
    emu.inject(Hang(30))
    with pytest.raises(socket.timeout):
        request(emu.address, IDENTITY, headers=FLAVOR, timeout=0.3)


def test_reset_breaks_the_reply_midway(emu: MetadataEmulator) -> None:
    emu.inject(Reset())
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        request(emu.address, IDENTITY, headers=FLAVOR)
    assert request(emu.address, IDENTITY, headers=FLAVOR).status == 200


def test_drip_delivers_the_whole_body_slowly(emu: MetadataEmulator) -> None:
    emu.inject(Drip(b"not-a-token", 0.01))
    reply = request(emu.address, IDENTITY, headers=FLAVOR)
    assert (reply.status, reply.body) == (200, b"not-a-token")


def test_body_fault_is_sent_verbatim(emu: MetadataEmulator) -> None:
    page = b"<html><body>Sign in to the Wi-Fi</body></html>"
    emu.inject(Body(200, page, {"Content-Type": "text/html"}))
    reply = request(emu.address, IDENTITY, headers=FLAVOR)
    assert (reply.status, reply.body) == (200, page)
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.headers["Metadata-Flavor"] is None


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Token({"exp": 1_800_000_000 - 10}), lambda c: c["exp"] < 1_800_000_000),
        (Token({"nbf": 1_800_000_000 + 3600}), lambda c: c["nbf"] > c["iat"]),
        (Token({"aud": "someone-else"}), lambda c: c["aud"] == "someone-else"),
        (Token(remove=("email", "email_verified")), lambda c: "email" not in c),
    ],
    ids=["expired", "nbf-future", "wrong-aud", "no-email"],
)
def test_token_fault_signs_changed_claims(
    emu: MetadataEmulator, fault: Token, check: object
) -> None:
    emu.inject(fault)
    reply = request(emu.address, IDENTITY, headers=FLAVOR)
    _, claims = verify_with_jwks(reply.text, emu.signer.jwks())
    assert check(claims)  # type: ignore[operator]
    _, normal = verify_with_jwks(
        request(emu.address, IDENTITY, headers=FLAVOR).text, emu.signer.jwks()
    )
    assert normal["aud"] == "aud"
    assert "nbf" not in normal
    assert normal["exp"] > 1_800_000_000


def test_stop_is_not_blocked_by_a_hanging_request(emu: MetadataEmulator) -> None:
    emu.inject(Hang(600))
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
    conn.request("GET", IDENTITY, headers=FLAVOR)
    emu.stop()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    conn.close()
