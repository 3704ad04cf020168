"""Signer: RS256 JWTs that verify against its JWK set and PEMs, and google-auth can read."""

from __future__ import annotations

import io
import threading
import time
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from gcp2aws.emulator.serve import serve_forever
from gcp2aws.emulator.signer import Signer, make_service_account_key, split_jwt, verify_rs256
from tests.support.emulator import shared_signer, verify_with_jwks


def test_sign_and_verify_with_jwks_and_pem() -> None:
    signer = shared_signer()
    token = signer.sign({"sub": "1", "aud": "a"}, extra_header={"x5t": "abc"})
    header, claims = verify_with_jwks(token, signer.jwks())
    assert header == {"alg": "RS256", "kid": signer.kid, "typ": "JWT", "x5t": "abc"}
    assert claims == {"sub": "1", "aud": "a"}
    public = serialization.load_pem_public_key(signer.public_pem())
    assert isinstance(public, rsa.RSAPublicKey)
    assert verify_rs256(token, public) == claims


def test_google_auth_verifies_our_tokens() -> None:
    signer = shared_signer()
    now = int(time.time())
    token = signer.sign({"aud": "a", "iat": now, "exp": now + 3600})
    claims = jwt.decode(token, certs={signer.kid: signer.public_pem()}, verify=True, audience="a")
    assert claims["aud"] == "a"


def test_tampered_token_fails() -> None:
    signer = shared_signer()
    head, _, sig = signer.sign({"aud": "a"}).split(".")
    other = signer.sign({"aud": "b"}).split(".")[1]
    with pytest.raises(ValueError, match="signature"):
        signer.verify(f"{head}.{other}.{sig}")
    with pytest.raises(ValueError, match="signature"):
        Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048)).verify(
            signer.sign({"aud": "a"})
        )
    with pytest.raises(ValueError, match="compact JWT"):
        split_jwt("not-a-jwt")


def test_existing_key_keeps_its_kid() -> None:
    key = serialization.load_pem_private_key(shared_signer().private_pem(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert Signer(key).kid == shared_signer().kid
    assert Signer(key, kid="k1").kid == "k1"


def test_google_auth_signs_with_the_generated_key_file() -> None:
    signer = shared_signer()
    key = make_service_account_key(
        "sa@p.iam.gserviceaccount.com",
        project_id="p",
        token_uri="http://127.0.0.1:9/token",
        signer=signer,
    )
    google_signer = crypt.RSASigner.from_service_account_info(key)
    assert google_signer.key_id == signer.kid
    token = jwt.encode(google_signer, {"iss": "x"})
    assert signer.verify(token.decode())["iss"] == "x"


def test_serve_forever_prints_exports_and_serves() -> None:
    out = io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(serve_forever(stdout=out, stop=stop, signer=shared_signer()))
    )
    thread.start()
    try:
        for _ in range(100):
            if out.getvalue().count("\n") >= 2:
                break
            stop.wait(0.05)
        host_line, ip_line = out.getvalue().splitlines()
        address = host_line.removeprefix("export GCE_METADATA_HOST=")
        assert ip_line == f"export GCE_METADATA_IP={address}"
        req = urllib.request.Request(
            f"http://{address}/computeMetadata/v1/instance/name",
            headers={"Metadata-Flavor": "Google"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.read() == b"demo-vm"
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result == [0]
