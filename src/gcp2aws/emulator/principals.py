"""Who the Google APIs emulator knows: service accounts, users, access tokens and IAM grants."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gcp2aws.emulator.signer import random_digits, split_jwt, verify_rs256
from gcp2aws.errors import ConfigError

GOOGLE_OAUTH2_URL = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions issued a few minutes in the future (clock skew) and living <= 1 h.
_SKEW = 300
_MAX_ASSERTION_LIFETIME = 3600
_BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_AUTH_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class OAuthError(Exception):
    """An RFC 6749 error reply of the token endpoint: ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, text: str) -> None:
        super().__init__(text)
        self.status, self.error, self.text = status, error, text


class ApiError(Exception):
    """A Google API error reply: ``{"error": {"code", "message", "status", "details"}}``."""

    def __init__(
        self, status: int, status_name: str, message: str, details: Sequence[Any] = ()
    ) -> None:
        super().__init__(message)
        self.status, self.status_name, self.message = status, status_name, message
        self.details = list(details)

    def document(self) -> dict[str, Any]:
        """The JSON body Google sends."""
        error: dict[str, Any] = {
            "code": self.status,
            "message": self.message,
            "status": self.status_name,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _error_info(reason: str, domain: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": domain,
        "metadata": metadata,
    }


def _bare(principal: str) -> str:
    """``user:E`` / ``serviceAccount:E`` / ``projects/-/serviceAccounts/E`` -> ``e``."""
    for prefix in ("user:", "serviceAccount:", "projects/-/serviceAccounts/"):
        if principal.startswith(prefix):
            principal = principal[len(prefix) :]
    return principal.lower()


@dataclass
class ServiceAccount:
    """A service account: its email, numeric unique ID and trusted key-file keys."""

    email: str
    unique_id: str
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    """A user principal as an ``authorized_user`` ADC file identifies it."""

    email: str
    unique_id: str
    client_id: str
    client_secret: str
    refresh_token: str


class Principals:
    """Thread-safe registry the token and IAM endpoints check requests against."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, ServiceAccount] = {}
        self._users: dict[str, User] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._grants: set[tuple[str, str]] = set()

    # -- registration -----------------------------------------------------------------------
    def add_identity(self, email: str, unique_id: str | None = None) -> str:
        """Know ``email`` as a service account; returns its unique ID."""
        with self._lock:
            account = self._accounts.get(email.lower())
            if account is None:
                account = ServiceAccount(email, unique_id or random_digits(21))
                self._accounts[email.lower()] = account
            elif unique_id:
                account.unique_id = unique_id
            return account.unique_id

    def add_key(self, key_info: Mapping[str, str]) -> None:
        """Trust the key of a Google-format service-account key file.

        Raises:
            ConfigError: the mapping is not a usable service-account key.
        """
        try:
            email = key_info["client_email"]
            kid = key_info["private_key_id"]
            private = serialization.load_pem_private_key(
                key_info["private_key"].encode("ascii"), password=None
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                "the service-account key is not usable",
                hint="pass the dict make_service_account_key returns",
            ) from exc
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigError("the service-account key is not an RSA key")
        self.add_identity(email, key_info.get("client_id"))
        with self._lock:
            self._accounts[email.lower()].keys[kid] = private.public_key()

    def add_user(
        self,
        email: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
    ) -> User:
        """Know a user and the OAuth client + refresh token its ADC file carries."""
        user = User(
            email=email,
            unique_id=random_digits(21),
            client_id=client_id or f"{random_digits(12)}-emulator.apps.googleusercontent.com",
            client_secret=client_secret or "GOCSPX-" + secrets.token_urlsafe(21),
            refresh_token=refresh_token or "1//0e" + secrets.token_urlsafe(72),
        )
        with self._lock:
            self._users[user.refresh_token] = user
        return user

    def grant(self, principal: str, target_email: str) -> None:
        """Let ``principal`` mint tokens for ``target_email``."""
        with self._lock:
            self._grants.add((_bare(principal), _bare(target_email)))

    def revoke(self, principal: str, target_email: str) -> None:
        """Take a :meth:`grant` back."""
        with self._lock:
            self._grants.discard((_bare(principal), _bare(target_email)))

    def issue(self, email: str, lifetime: int) -> str:
        """Mint an opaque ``ya29.`` access token for ``email``."""
        token = "ya29.emulator-" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = (email, self._clock() + lifetime)
        return token

    # -- checks -----------------------------------------------------------------------------
    def identity(self, email: str) -> ServiceAccount:
        """The service account ``email`` (raises a 403 ApiError if unknown)."""
        with self._lock:
            account = self._accounts.get(_bare(email))
        if account is None:
            raise _denied("iam.serviceAccounts.getOpenIdToken")
        return account

    def check_assertion(
        self, assertion: str, *, audiences: Sequence[str]
    ) -> tuple[ServiceAccount, dict[str, Any]]:
        """Verify a JWT-bearer assertion as Google's token endpoint does."""
        try:
            header, claims, _, _ = split_jwt(assertion)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from exc
        with self._lock:
            account = self._accounts.get(str(claims.get("iss", "")).lower())
            key = account.keys.get(str(header.get("kid", ""))) if account else None
        if account is None or key is None:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            verify_rs256(assertion, key)
        except ValueError as exc:
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("aud") not in audiences:
            raise OAuthError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        now = self._clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise OAuthError(400, "invalid_grant", _BAD_TIMES)
        if exp <= now or iat > now + _SKEW or exp - iat > _MAX_ASSERTION_LIFETIME:
            raise OAuthError(400, "invalid_grant", _BAD_TIMES)
        return account, claims

    def check_refresh(self, client_id: str, client_secret: str, refresh_token: str) -> User:
        """Check a refresh-token grant; returns the user."""
        with self._lock:
            user = self._users.get(refresh_token)
            known_client = any(u.client_id == client_id for u in self._users.values())
        if not known_client:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if user is None or user.client_id != client_id:
            raise OAuthError(400, "invalid_grant", "Bad Request")
        if user.client_secret != client_secret:
            raise OAuthError(401, "invalid_client", "Unauthorized")
        return user

    def bearer(self, authorization: str | None) -> str:
        """The principal email behind an ``Authorization: Bearer`` header (401 if none)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                f"Request is missing required authentication credential. {_AUTH_HELP}",
                [_error_info("CREDENTIALS_MISSING", "googleapis.com")],
            )
        with self._lock:
            entry = self._tokens.get(token.strip())
        if entry is None or entry[1] <= self._clock():
            reason = "ACCESS_TOKEN_EXPIRED" if entry else "ACCESS_TOKEN_TYPE_UNSUPPORTED"
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                f"Request had invalid authentication credentials. {_AUTH_HELP}",
                [_error_info(reason, "googleapis.com")],
            )
        return entry[0]

    def authorize(
        self, caller: str, delegates: Sequence[Any], target: str, permission: str
    ) -> None:
        """Check the grant chain caller -> delegates... -> target (403 ApiError if broken)."""
        chain = [_bare(caller), *(_bare(str(d)) for d in delegates), _bare(target)]
        with self._lock:
            known = all(email in self._accounts for email in chain[1:])
            granted = all(pair in self._grants for pair in itertools.pairwise(chain))
        if not (known and granted):
            raise _denied(permission)


def _denied(permission: str) -> ApiError:
    return ApiError(
        403,
        "PERMISSION_DENIED",
        f"Permission '{permission}' denied on resource (or it may not exist).",
        [_error_info("IAM_PERMISSION_DENIED", "iam.googleapis.com", permission=permission)],
    )
