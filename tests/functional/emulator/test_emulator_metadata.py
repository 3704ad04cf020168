"""The GCE metadata emulator: paths, header rules, token claims and counters."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from gcp2aws.emulator.metadata import IDENTITY_PATH, MetadataEmulator
from tests.support.emulator import FLAVOR, request, shared_signer, verify_with_jwks

NOW = 1_800_000_000
IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"


@pytest.fixture
def emu() -> Iterator[MetadataEmulator]:
    with MetadataEmulator(
        signer=shared_signer(),
        unique_id="104567890123456789012",
        project_number="123456789012",
        instance_id="4567890123456789012",
        instance_creation_timestamp=NOW - 500,
        clock=lambda: NOW,
    ) as emu:
        yield emu


def identity(emu: MetadataEmulator, query: str) -> str:
    reply = request(emu.address, f"{IDENTITY}?{query}", headers=FLAVOR)
    assert reply.status == 200, reply.text
    return reply.text


def test_ping_answers_with_flavor_server_and_date(emu: MetadataEmulator) -> None:
    reply = request(emu.address, "/", headers=FLAVOR)
    assert reply.status == 200
    assert reply.headers["Metadata-Flavor"] == "Google"
    assert reply.headers["Server"] == "Metadata Server for VM"
    assert reply.headers["Date"]
    assert emu.calls["/"] == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Metadata-Flavor": "google"}, {**FLAVOR, "X-Forwarded-For": "10.0.0.1"}],
    ids=["no-flavor", "wrong-case-value", "forwarded"],
)
def test_requests_without_flavor_or_with_forwarded_for_are_refused(
    emu: MetadataEmulator, headers: dict[str, str]
) -> None:
    reply = request(emu.address, f"{IDENTITY}?audience=a", headers=headers)
    assert reply.status == 403
    assert reply.headers["Metadata-Flavor"] == "Google"
    assert not reply.text.startswith("eyJ")
    assert emu.last_audience is None


def test_standard_token_has_exactly_the_documented_claims(emu: MetadataEmulator) -> None:
    token = identity(emu, "audience=https://example.com/aud&format=standard")
    header, claims = verify_with_jwks(token, emu.signer.jwks())
    assert header == {"alg": "RS256", "kid": emu.signer.kid, "typ": "JWT"}
    assert claims == {
        "iss": "https://accounts.google.com",
        "aud": "https://example.com/aud",
        "azp": "104567890123456789012",
        "sub": "104567890123456789012",
        "email": "gcp2aws-demo@demo-project.iam.gserviceaccount.com",
        "email_verified": True,
        "iat": NOW,
        "exp": NOW + 3600,
    }


def test_format_defaults_to_standard(emu: MetadataEmulator) -> None:
    _, claims = verify_with_jwks(identity(emu, "audience=a"), emu.signer.jwks())
    assert "google" not in claims


def test_full_format_adds_compute_engine_block(emu: MetadataEmulator) -> None:
    _, claims = verify_with_jwks(identity(emu, "audience=a&format=full"), emu.signer.jwks())
    assert claims["google"]["compute_engine"] == {
        "project_id": "demo-project",
        "project_number": 123456789012,
        "zone": "us-central1-a",
        "instance_id": "4567890123456789012",
        "instance_name": "demo-vm",
        "instance_creation_timestamp": NOW - 500,
    }


def test_licenses_only_with_full_format() -> None:
    with MetadataEmulator(signer=shared_signer(), licenses=["1000010"]) as emu:
        _, full = verify_with_jwks(
            identity(emu, "audience=a&format=full&licenses=TRUE"), emu.signer.jwks()
        )
        _, std = verify_with_jwks(identity(emu, "audience=a&licenses=TRUE"), emu.signer.jwks())
    assert full["google"]["compute_engine"]["license_id"] == ["1000010"]
    assert "google" not in std


def test_without_compute_engine_claims_full_format_has_no_google_block() -> None:
    with MetadataEmulator(signer=shared_signer(), compute_engine_claims=False) as emu:
        _, claims = verify_with_jwks(identity(emu, "audience=a&format=full"), emu.signer.jwks())
    assert "google" not in claims
    assert claims["aud"] == "a"


def test_custom_lifetime_and_identity() -> None:
    with MetadataEmulator(
        signer=shared_signer(),
        email="runner@p.iam.gserviceaccount.com",
        token_lifetime=600,
        clock=lambda: NOW,
    ) as emu:
        _, claims = verify_with_jwks(identity(emu, "audience=a"), emu.signer.jwks())
    assert claims["email"] == "runner@p.iam.gserviceaccount.com"
    assert claims["exp"] - claims["iat"] == 600
    assert len(emu.unique_id) == 21
    assert emu.unique_id.isdigit()


@pytest.mark.parametrize("query", ["", "audience=", "format=full"])
def test_missing_audience_is_400(emu: MetadataEmulator, query: str) -> None:
    reply = request(emu.address, f"{IDENTITY}?{query}", headers=FLAVOR)
    assert reply.status == 400
    assert emu.identity_calls == 1


def test_unknown_format_is_400(emu: MetadataEmulator) -> None:
    assert request(emu.address, f"{IDENTITY}?audience=a&format=x", headers=FLAVOR).status == 400


def test_without_service_account_default_paths_are_404() -> None:
    with MetadataEmulator(signer=shared_signer(), has_service_account=False) as emu:
        for path in ("identity?audience=a", "email", "token", "?recursive=true"):
            url = f"/computeMetadata/v1/instance/service-accounts/default/{path}"
            assert request(emu.address, url, headers=FLAVOR).status == 404, path
        listing = request(
            emu.address, "/computeMetadata/v1/instance/service-accounts/", headers=FLAVOR
        )
        assert listing.text == ""
        name = request(emu.address, "/computeMetadata/v1/instance/name", headers=FLAVOR)
        assert name.status == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("instance/name", "demo-vm"),
        ("instance/id", "4567890123456789012"),
        ("instance/zone", "projects/123456789012/zones/us-central1-a"),
        ("project/project-id", "demo-project"),
        ("project/numeric-project-id", "123456789012"),
        (
            "instance/service-accounts/default/email",
            "gcp2aws-demo@demo-project.iam.gserviceaccount.com",
        ),
        (
            "instance/service-accounts/",
            "default/\ngcp2aws-demo@demo-project.iam.gserviceaccount.com/\n",
        ),
    ],
)
def test_plain_paths(emu: MetadataEmulator, path: str, expected: str) -> None:
    reply = request(emu.address, f"/computeMetadata/v1/{path}", headers=FLAVOR)
    assert (reply.status, reply.text) == (200, expected)
    assert reply.headers["Content-Type"] == "application/text"


def test_recursive_service_account_info(emu: MetadataEmulator) -> None:
    reply = request(
        emu.address,
        "/computeMetadata/v1/instance/service-accounts/default/?recursive=true",
        headers=FLAVOR,
    )
    assert reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body) == {
        "aliases": ["default"],
        "email": "gcp2aws-demo@demo-project.iam.gserviceaccount.com",
        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }


def test_access_token_endpoint_uses_the_issuer() -> None:
    issued: list[tuple[str, int]] = []

    def issuer(email: str, lifetime: int) -> str:
        issued.append((email, lifetime))
        return "ya29.test-token"

    with MetadataEmulator(signer=shared_signer(), access_token_issuer=issuer) as emu:
        reply = request(
            emu.address,
            "/computeMetadata/v1/instance/service-accounts/default/token",
            headers=FLAVOR,
        )
    assert json.loads(reply.body) == {
        "access_token": "ya29.test-token",
        "expires_in": 3599,
        "token_type": "Bearer",
    }
    assert issued == [(emu.email, 3600)]


@pytest.mark.parametrize(
    "path", ["/computeMetadata/v1/instance/nope", "/computeMetadata/v2/x", "/favicon.ico"]
)
def test_unknown_paths_are_404(emu: MetadataEmulator, path: str) -> None:
    reply = request(emu.address, path, headers=FLAVOR)
    assert reply.status == 404
    assert reply.headers["Metadata-Flavor"] == "Google"


def test_counters_and_last_audience(emu: MetadataEmulator) -> None:
    identity(emu, "audience=first")
    identity(emu, "audience=second&format=full")
    request(emu.address, "/computeMetadata/v1/instance/name", headers=FLAVOR)
    assert emu.identity_calls == 2
    assert emu.calls[IDENTITY_PATH] == 2
    assert emu.calls["instance/name"] == 1
    assert emu.last_audience == "second"
    emu.reset_calls()
    assert emu.identity_calls == 0


def test_keep_alive_connection_serves_many_requests(emu: MetadataEmulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        for i in range(5):
            conn.request("GET", f"{IDENTITY}?audience=a{i}", headers=FLAVOR)
            response = conn.getresponse()
            assert response.status == 200
            assert response.read().count(b".") == 2
    finally:
        conn.close()
    assert emu.identity_calls == 5


def test_counters_are_exact_under_concurrency(emu: MetadataEmulator) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
            for _ in range(10):
                conn.request("GET", f"{IDENTITY}?audience=x", headers=FLAVOR)
                assert conn.getresponse().read()
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert emu.identity_calls == 80


def test_address_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = MetadataEmulator(signer=shared_signer()).address


def test_google_auth_uses_the_emulator(tmp_path: object) -> None:
    # google-auth reads GCE_METADATA_HOST at import time, so this runs in a fresh process.
    script = """
import google.auth.transport.requests as tr
from google.auth.compute_engine import _metadata, credentials
from google.oauth2 import id_token
request = tr.Request()
assert _metadata.ping(request)
creds = credentials.IDTokenCredentials(
    request, "https://aud.example", use_metadata_identity_endpoint=True
)
creds.refresh(request)
print(creds.token)
source = credentials.Credentials()
source.refresh(request)
print(source.service_account_email)
"""
    with MetadataEmulator(signer=shared_signer()) as emu:
        env = {**os.environ, "GCE_METADATA_HOST": emu.address, "GCE_METADATA_IP": emu.address}
        proc = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        token, email = proc.stdout.split()
        _, claims = verify_with_jwks(token, emu.signer.jwks())
    assert claims["aud"] == "https://aud.example"
    assert "google" in claims  # google-auth asks for format=full
    assert email == emu.email
    assert emu.calls["/"] >= 1
    assert emu.calls["instance/service-accounts/default/token"] == 1
