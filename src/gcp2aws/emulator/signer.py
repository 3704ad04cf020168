"""RS256 signing keys for the emulators: JWTs, JWK sets and Google-format service-account keys."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    """Base64url without padding, as JOSE wants it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url` (raises ``ValueError`` on bad input)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def split_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Return (header, claims, signing input, signature) of a compact JWT, unverified.

    Raises:
        ValueError: the text is not a compact JWS with JSON header and claims.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWT")
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header or claims is not a JSON object")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def verify_rs256(token: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """Check an RS256 signature and return the claims (no time or audience checks).

    Raises:
        ValueError: malformed token, wrong algorithm or bad signature.
    """
    header, claims, signing_input, signature = split_jwt(token)
    if header.get("alg") != "RS256":
        raise ValueError("JWT is not RS256")
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise ValueError("bad JWT signature") from exc
    return claims


class Signer:
    """One RSA-2048 key pair that signs RS256 JWTs and publishes its public half."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None = None, *, kid: str | None = None):
        self._key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Google's key IDs are 40 hex digits; derive ours from the key so it is stable.
        self._kid = kid or hashlib.sha1(der, usedforsecurity=False).hexdigest()

    @property
    def kid(self) -> str:
        """Key ID placed in every JWT header and in the JWK set."""
        return self._kid

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, to verify tokens with."""
        return self._key.public_key()

    def sign(
        self, claims: Mapping[str, Any], *, extra_header: Mapping[str, Any] | None = None
    ) -> str:
        """Return a compact RS256 JWT of ``claims``."""
        header: dict[str, Any] = {"alg": "RS256", "kid": self._kid, "typ": "JWT"}
        header.update(extra_header or {})
        signing_input = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))
            for part in (header, dict(claims))
        )
        signature = self._key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """Check that this key signed ``token`` and return its claims (raises ``ValueError``)."""
        return verify_rs256(token, self.public_key)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWK set, like https://www.googleapis.com/oauth2/v3/certs."""
        numbers = self.public_key.public_numbers()
        jwk = {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self._kid,
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
        }
        return {"keys": [jwk]}

    def public_pem(self) -> bytes:
        """The public key as PEM SubjectPublicKeyInfo."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def private_pem(self) -> bytes:
        """The private key as unencrypted PEM PKCS#8 (the form Google key files use)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def random_digits(count: int) -> str:
    """A random decimal string of ``count`` digits with no leading zero (Google-style IDs)."""
    return str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(count - 1)
    )


def make_service_account_key(
    email: str, *, project_id: str, token_uri: str, signer: Signer | None = None
) -> dict[str, str]:
    """Return a service-account key in the JSON format Google's console downloads.

    ``token_uri`` is where google-auth sends its JWT-bearer grant: point it at
    :class:`~gcp2aws.emulator.google_apis.GoogleApisEmulator` (its ``token_uri``).
    """
    signer = signer or Signer()
    quoted = email.replace("@", "%40")
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": signer.kid,
        "private_key": signer.private_pem().decode("ascii"),
        "client_email": email,
        "client_id": random_digits(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{quoted}",
        "universe_domain": "googleapis.com",
    }
