"""Decode and sanity-check a compact JWT without verifying its signature.

STS verifies the signature against Google's keys; we only need the claims to pick a session
name, explain denials and refuse obvious junk (HTML, an empty body, an expired token) before
spending an STS call on it.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gcp2aws.errors import TokenInvalidError
from gcp2aws.models import IdToken

# STS accepts WebIdentityToken of 4-20000 characters.
MAX_TOKEN_CHARS = 20000
# Tolerated disagreement between our clock and the issuer's when judging exp.
CLOCK_LEEWAY = 60


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(segment: str, what: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalidError(
            f"{source}: the token's {what} is not base64url-encoded JSON",
            hint="The source returned something that is not an OIDC ID token",
        ) from exc
    if not isinstance(value, dict):
        raise TokenInvalidError(f"{source}: the token's {what} is not a JSON object")
    return value


def decode_bytes(data: bytes, *, source: str, binary: str, hint: str) -> IdToken:
    """``decode_unverified`` for raw bytes (a file, a command's stdout).

    Binary data is refused here, with ``binary`` saying what held it: ``decode_unverified``
    would take a "<binary>" placeholder for HTML.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TokenInvalidError(f"{source} {binary}, not a JWT", hint=hint) from exc
    return decode_unverified(text, source=source)


def decode_unverified(raw: str, *, source: str) -> IdToken:
    """Split and decode a compact JWT; ``TokenInvalidError`` for anything else."""
    text = raw.strip()
    if not text:
        raise TokenInvalidError(f"{source} returned an empty token")
    if len(text) > MAX_TOKEN_CHARS:
        raise TokenInvalidError(
            f"{source} returned {len(text)} characters; STS accepts at most {MAX_TOKEN_CHARS}"
        )
    parts = text.split(".")
    if len(parts) != 3 or not all(parts[:2]) or any(c.isspace() for c in text):
        sample = "HTML" if text.lstrip().startswith("<") else f"{len(parts)} dot-separated parts"
        raise TokenInvalidError(
            f"{source} returned something that is not a JWT ({sample})",
            hint="Check that the endpoint is a real metadata server or token issuer, not a proxy",
        )
    header = _json_object(parts[0], "header", source)
    claims = _json_object(parts[1], "claims", source)
    return IdToken(raw=text, header=header, claims=claims, source=source)


def check_fresh(token: IdToken, *, now: float, min_remaining: float = 0.0) -> None:
    """Refuse an expired token (or one expiring within ``min_remaining`` seconds)."""
    exp = token.expires_at
    if exp is None:
        raise TokenInvalidError(f"{token.source}: the token has no exp claim")
    if exp + CLOCK_LEEWAY <= now + min_remaining:
        age = int(now - exp)
        raise TokenInvalidError(
            f"{token.source}: the token expired {age}s ago (exp={exp})",
            hint="Refresh the token at its source, and check this machine's clock",
        )


def check_audience(token: IdToken, audience: str) -> None:
    """Refuse a token minted for another audience: STS would bind the wrong `oaud`."""
    aud = token.claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if audience not in auds:
        raise TokenInvalidError(
            f"{token.source}: the token's aud is {token.aud!r}, not the requested {audience!r}",
            hint="Pass --audience with the audience this token source mints for",
        )
