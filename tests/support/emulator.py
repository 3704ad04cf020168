"""Helpers for the emulator tests: raw HTTP requests and JWT checks against a JWK set."""

from __future__ import annotations

import functools
import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from gcp2aws.emulator.signer import Signer, b64url_decode, verify_rs256

FLAVOR = {"Metadata-Flavor": "Google"}


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def request(
    address: str,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10,
) -> Reply:
    """One request on a fresh connection, with exactly the headers given."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def public_key_from_jwks(jwks: Mapping[str, Any], kid: str) -> rsa.RSAPublicKey:
    """Rebuild the RSA public key a JWK set publishes for ``kid``."""
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == kid]
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_with_jwks(token: str, jwks: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of ``token`` after checking its RS256 signature against ``jwks``."""
    header = json.loads(b64url_decode(token.split(".", maxsplit=1)[0]))
    claims = verify_rs256(token, public_key_from_jwks(jwks, header["kid"]))
    return header, claims


@functools.cache
def shared_signer() -> Signer:
    """One RSA key for the whole test run: generating one per emulator costs ~0.1 s."""
    return Signer()
