"""Typed values that flow through gcp2aws: a Google ID token and a set of AWS credentials."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _epoch_claim(value: object) -> int | None:
    """A numeric date claim as whole seconds; None when absent, not a number, NaN or infinite.

    JSON parsers accept ``NaN``, ``Infinity`` and ``1e309`` (which overflows to infinity), and
    ``int()`` of those raises: a hostile or broken issuer must not crash the caller.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class IdToken:
    """A Google-signed (or other OIDC) ID token with its decoded, *unverified* header and claims.

    ``raw`` is a secret: it is kept out of ``repr`` so it never lands in a log line.
    """

    raw: str = field(repr=False)
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    source: str = ""

    def claim_str(self, name: str) -> str:
        value = self.claims.get(name)
        return value if isinstance(value, str) else ""

    @property
    def azp(self) -> str:
        """Authorized party: what AWS compares with ``accounts.google.com:aud``."""
        return self.claim_str("azp")

    @property
    def aud(self) -> str:
        """Requested audience: what AWS compares with ``accounts.google.com:oaud``."""
        aud = self.claims.get("aud")
        if isinstance(aud, list):
            return ",".join(str(a) for a in aud)
        return aud if isinstance(aud, str) else ""

    @property
    def aws_aud(self) -> str:
        """The value AWS puts in ``accounts.google.com:aud``: ``azp`` if present, else ``aud``."""
        return self.azp or self.aud

    @property
    def sub(self) -> str:
        return self.claim_str("sub")

    @property
    def email(self) -> str:
        return self.claim_str("email")

    @property
    def issuer(self) -> str:
        return self.claim_str("iss")

    @property
    def expires_at(self) -> int | None:
        return _epoch_claim(self.claims.get("exp"))

    @property
    def issued_at(self) -> int | None:
        return _epoch_claim(self.claims.get("iat"))

    @property
    def instance_name(self) -> str:
        """``google.compute_engine.instance_name`` if the token has it (GCE with format=full)."""
        google = self.claims.get("google")
        if isinstance(google, Mapping):
            gce = google.get("compute_engine")
            if isinstance(gce, Mapping):
                name = gce.get("instance_name")
                if isinstance(name, str):
                    return name
        return ""

    def describe(self) -> str:
        """Non-secret identifying claims for messages: azp, aud, sub, email."""
        from gcp2aws.sanitize import for_terminal  # claims are foreign: a newline would forge

        parts = [f"azp={self.azp or '-'}", f"aud={self.aud or '-'}", f"sub={self.sub or '-'}"]
        if self.email:
            parts.append(f"email={self.email}")
        return " ".join(for_terminal(part, 300) for part in parts)


@dataclass(frozen=True)
class AwsCredentials:
    """Temporary AWS credentials from STS. Secrets are kept out of ``repr``."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime  # timezone-aware, UTC
    account_id: str | None = None
    assumed_role_arn: str | None = None
    source: str = ""

    def remaining(self, now: float) -> float:
        """Seconds until expiry, relative to epoch ``now``."""
        return self.expiration.timestamp() - now

    @property
    def expires_epoch(self) -> int:
        return int(self.expiration.timestamp())

    def redacted_key_id(self) -> str:
        """Key id for display, like aws-vault: the first 4 and last 4 characters."""
        key = self.access_key_id
        return f"{key[:4]}****{key[-4:]}" if len(key) > 8 else "****"
