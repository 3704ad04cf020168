"""A local Google OAuth 2.0 token endpoint and IAM Credentials API, on one port."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from gcp2aws.emulator._server import BaseEmulator, EmulatorHandler
from gcp2aws.emulator.faults import Token
from gcp2aws.emulator.principals import (
    GOOGLE_OAUTH2_URL,
    JWT_BEARER,
    ApiError,
    OAuthError,
    Principals,
)
from gcp2aws.emulator.signer import Signer, make_service_account_key

_IAM_PATH = re.compile(
    r"^/v1/projects/[^/]+/serviceAccounts/(?P<email>[^/:]+):(?P<method>generateIdToken|generateAccessToken)$"
)
_PERMISSION = {
    "generateIdToken": "iam.serviceAccounts.getOpenIdToken",
    "generateAccessToken": "iam.serviceAccounts.getAccessToken",
}


class GoogleApisEmulator(BaseEmulator):
    """Emulates ``oauth2.googleapis.com/token`` and ``iamcredentials.googleapis.com``.

    * ``POST /token``: the JWT-bearer grant of service-account key files (an ID token when
      the assertion has ``target_audience``, else an access token) and the ``refresh_token``
      grant of ``authorized_user`` files.
    * ``POST /v1/projects/-/serviceAccounts/EMAIL:generateIdToken`` (and
      ``:generateAccessToken``) with ``Authorization: Bearer`` an access token this emulator
      issued, allowed only along :meth:`grant_token_creator` grants.

    ``calls`` is keyed by request path; :meth:`inject` matches a path prefix (all by default).
    """

    server_header: ClassVar[str] = "ESF"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: int = 3600,
        clock: Callable[[], float] = time.time,
        signer: Signer | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.signer = signer or Signer()
        self.principals = Principals(clock=clock)

    # -- addresses --------------------------------------------------------------------------
    @property
    def token_uri(self) -> str:
        """The OAuth 2.0 token endpoint: put it in key files as ``token_uri``."""
        return self.url + "/token"

    @property
    def iam_endpoint(self) -> str:
        """Stands in for ``https://iamcredentials.googleapis.com`` (no trailing slash)."""
        return self.url

    def generate_id_token_url(self, email: str) -> str:
        """The full generateIdToken URL for ``email``."""
        return f"{self.iam_endpoint}/v1/projects/-/serviceAccounts/{email}:generateIdToken"

    # -- registration -----------------------------------------------------------------------
    def add_service_account(self, key_info: Mapping[str, str]) -> None:
        """Trust a service-account key file's key for JWT-bearer grants, and know the account."""
        self.principals.add_key(key_info)

    def create_service_account_key(
        self, email: str, *, project_id: str = "demo-project"
    ) -> dict[str, str]:
        """Make a Google-format key file for ``email`` whose token_uri is this emulator."""
        if self._server is None:
            raise RuntimeError("start the emulator first: the key file needs its token_uri")
        key = make_service_account_key(email, project_id=project_id, token_uri=self.token_uri)
        self.add_service_account(key)
        return key

    def add_service_account_identity(self, email: str, unique_id: str | None = None) -> str:
        """Make ``email`` a known service account (an impersonation target); returns its ID."""
        return self.principals.add_identity(email, unique_id)

    def add_authorized_user(
        self,
        email: str = "demo-user@example.com",
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        quota_project_id: str | None = None,
    ) -> dict[str, str]:
        """Register a user and return the ADC JSON ``gcloud auth application-default login``
        writes, plus ``token_uri`` pointing at this emulator."""
        if self._server is None:
            raise RuntimeError("start the emulator first: the ADC file needs its token_uri")
        user = self.principals.add_user(
            email, client_id=client_id, client_secret=client_secret, refresh_token=refresh_token
        )
        info = {
            "account": "",
            "client_id": user.client_id,
            "client_secret": user.client_secret,
            "refresh_token": user.refresh_token,
            "type": "authorized_user",
            "universe_domain": "googleapis.com",
            "token_uri": self.token_uri,
        }
        if quota_project_id:
            info["quota_project_id"] = quota_project_id
        return info

    def grant_token_creator(self, principal: str, target_email: str) -> None:
        """Let ``principal`` (``user:E``, ``serviceAccount:E`` or a bare email) mint tokens
        for ``target_email``, like roles/iam.serviceAccountTokenCreator on that account."""
        self.principals.grant(principal, target_email)

    def revoke_token_creator(self, principal: str, target_email: str) -> None:
        """Undo :meth:`grant_token_creator`."""
        self.principals.revoke(principal, target_email)

    def issue_access_token(self, email: str, lifetime: int | None = None) -> str:
        """Mint an access token for ``email`` that the IAM endpoints accept."""
        return self.principals.issue(email, self.token_lifetime if lifetime is None else lifetime)

    # -- counters ---------------------------------------------------------------------------
    @property
    def token_calls(self) -> int:
        """Requests to ``/token``."""
        return self.calls["/token"]

    @property
    def id_token_calls(self) -> int:
        """Requests to any ``:generateIdToken`` path."""
        return sum(n for k, n in self.calls.items() if k.endswith(":generateIdToken"))

    # -- request handling -------------------------------------------------------------------
    def handle(self, handler: EmulatorHandler, method: str) -> None:
        path = urlsplit(handler.path).path
        body = handler.read_body()
        self.count(path)
        fault = self.faults.take(path)
        if fault is not None and handler.run_fault(fault):
            return
        token_fault = fault if isinstance(fault, Token) else None
        try:
            if method == "POST" and path == "/token":
                handler.reply_json(200, self._token(handler, body, token_fault))
                return
            match = _IAM_PATH.match(path)
            if method == "POST" and match:
                email = unquote(match["email"])
                doc = self._iam(handler, email, match["method"], body, token_fault)
                handler.reply_json(200, doc)
                return
            raise ApiError(404, "NOT_FOUND", f"Method not found: {method} {path}.")
        except OAuthError as err:
            handler.reply_json(err.status, {"error": err.error, "error_description": err.text})
        except ApiError as err:
            headers = {}
            if err.status == 401:
                headers["WWW-Authenticate"] = (
                    'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                )
            handler.reply_json(err.status, err.document(), headers)

    def _sign(self, claims: dict[str, Any], fault: Token | None) -> str:
        return self.signer.sign(fault.apply(claims) if fault else claims)

    def _id_claims(self, audience: str, azp: str, sub: str, email: str | None) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {"aud": audience, "azp": azp}
        if email is not None:
            claims.update(email=email, email_verified=True)
        claims.update(
            exp=now + self.token_lifetime, iat=now, iss="https://accounts.google.com", sub=sub
        )
        return claims

    def _token(self, handler: EmulatorHandler, body: bytes, fault: Token | None) -> dict[str, Any]:
        form = _parse_form(handler, body)
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            account, claims = self.principals.check_assertion(
                form.get("assertion", ""), audiences=(self.token_uri, GOOGLE_OAUTH2_URL)
            )
            audience = claims.get("target_audience")
            if isinstance(audience, str) and audience:
                id_claims = self._id_claims(
                    audience, account.email, account.unique_id, account.email
                )
                return {"id_token": self._sign(id_claims, fault)}
            token = self.issue_access_token(account.email)
            return {
                "access_token": token,
                "expires_in": self.token_lifetime - 1,
                "token_type": "Bearer",
            }
        if grant == "refresh_token":
            user = self.principals.check_refresh(
                form.get("client_id", ""),
                form.get("client_secret", ""),
                form.get("refresh_token", ""),
            )
            id_claims = self._id_claims(user.client_id, user.client_id, user.unique_id, user.email)
            return {
                "access_token": self.issue_access_token(user.email),
                "expires_in": self.token_lifetime - 1,
                "scope": form.get("scope")
                or "openid https://www.googleapis.com/auth/userinfo.email "
                "https://www.googleapis.com/auth/cloud-platform",
                "token_type": "Bearer",
                "id_token": self._sign(id_claims, fault),
            }
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _iam(
        self, handler: EmulatorHandler, target: str, method: str, body: bytes, fault: Token | None
    ) -> dict[str, Any]:
        caller = self.principals.bearer(handler.headers.get("Authorization"))
        try:
            request = json.loads(body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from exc
        if not isinstance(request, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        delegates = request.get("delegates") or []
        self.principals.authorize(caller, list(delegates), target, _PERMISSION[method])
        account = self.principals.identity(target)
        if method == "generateAccessToken":
            try:
                lifetime = int(float(str(request.get("lifetime", "3600s")).rstrip("s")))
            except ValueError as exc:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid value for lifetime.") from exc
            expire = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock() + lifetime))
            return {"accessToken": self.issue_access_token(target, lifetime), "expireTime": expire}
        audience = request.get("audience")
        if not isinstance(audience, str) or not audience:
            raise ApiError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        email = target if request.get("includeEmail") else None
        # generateIdToken puts the numeric unique ID in azp, unlike key-file tokens.
        claims = self._id_claims(audience, account.unique_id, account.unique_id, email)
        return {"token": self._sign(claims, fault)}


def _parse_form(handler: EmulatorHandler, body: bytes) -> dict[str, str]:
    if handler.headers.get("Content-Type", "").startswith("application/json"):
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise OAuthError(400, "invalid_request", "Invalid JSON body") from exc
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
