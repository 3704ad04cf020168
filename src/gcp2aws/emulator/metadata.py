"""A local GCE metadata server: identity tokens, service-account info and instance facts."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from gcp2aws.emulator._server import BaseEmulator, EmulatorHandler
from gcp2aws.emulator.faults import Fault, Token
from gcp2aws.emulator.signer import Signer, random_digits

ROOT = "/computeMetadata/v1/"
IDENTITY_PATH = "instance/service-accounts/default/identity"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

_TEXT = {"Content-Type": "application/text"}
# The real server sends compact JSON with no charset parameter.
_JSON = {"Content-Type": "application/json"}
_HTML = {"Content-Type": "text/html; charset=UTF-8"}


def _error_page(code: int, detail: str) -> bytes:
    # The real server answers errors with a short HTML page; clients must not parse it.
    return (
        f"<!DOCTYPE html>\n<html lang=en>\n<title>Error {code}</title>\n"
        f"<p><b>{code}.</b> <ins>That's an error.</ins>\n<p>{detail}\n</html>\n"
    ).encode()


class MetadataEmulator(BaseEmulator):
    """Serves the GCE metadata paths gcp2aws and google-auth use, on loopback.

    Set ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` to :attr:`address` for google-auth
    (and gcp2aws) to use it. ``calls`` is keyed by the path below ``/computeMetadata/v1/``
    (``"/"`` for the detection ping); faults match on that key too.
    """

    server_header: ClassVar[str] = "Metadata Server for VM"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        email: str = "gcp2aws-demo@demo-project.iam.gserviceaccount.com",
        unique_id: str | None = None,
        project_id: str = "demo-project",
        project_number: str | None = None,
        zone: str = "us-central1-a",
        instance_name: str = "demo-vm",
        instance_id: str | None = None,
        instance_creation_timestamp: int | None = None,
        licenses: Sequence[str] = (),
        scopes: Sequence[str] = DEFAULT_SCOPES,
        token_lifetime: int = 3600,
        compute_engine_claims: bool = True,
        has_service_account: bool = True,
        attributes: Mapping[str, str] | None = None,
        region: str | None = None,
        identity_refusal: tuple[int, str] | None = None,
        clock: Callable[[], float] = time.time,
        signer: Signer | None = None,
        access_token_issuer: Callable[[str, int], str] | None = None,
    ) -> None:
        """Create (not start) the emulator.

        ``access_token_issuer(email, lifetime)`` mints the access tokens served on
        ``.../default/token``; pass ``GoogleApisEmulator.issue_access_token`` so that the
        IAM Credentials emulator accepts them.
        """
        super().__init__(host=host, port=port)
        self.email = email
        self.unique_id = unique_id or random_digits(21)
        self.project_id = project_id
        self.project_number = project_number or random_digits(12)
        self.zone = zone
        self.instance_name = instance_name
        self.instance_id = instance_id or random_digits(19)
        self.instance_creation_timestamp = (
            int(clock()) - 86400
            if instance_creation_timestamp is None
            else instance_creation_timestamp
        )
        self.licenses = list(licenses)
        self.scopes = list(scopes)
        self.token_lifetime = token_lifetime
        self.compute_engine_claims = compute_engine_claims
        self.has_service_account = has_service_account
        # instance/attributes/KEY (GKE serves cluster-name there); instance/region is Cloud
        # Run's; identity_refusal is (status, text) for a runtime that cannot mint ID tokens.
        self.attributes = dict(attributes or {})
        self.region = region
        self.identity_refusal = identity_refusal
        self.clock = clock
        self.signer = signer or Signer()
        self._issue_access_token = access_token_issuer
        self._last_audience: str | None = None

    # -- public helpers ---------------------------------------------------------------------
    @property
    def identity_calls(self) -> int:
        """How many requests reached the identity endpoint (faulted ones included)."""
        return self.calls[IDENTITY_PATH]

    @property
    def last_audience(self) -> str | None:
        """The audience of the latest identity request that had one."""
        with self._lock:
            return self._last_audience

    def inject(self, fault: Fault, times: int = 1, path_prefix: str = IDENTITY_PATH) -> None:
        """Apply ``fault`` to the next ``times`` requests below ``/computeMetadata/v1/``
        whose path starts with ``path_prefix`` (the identity endpoint by default)."""
        super().inject(fault, times=times, path_prefix=path_prefix)

    def identity_claims(
        self, audience: str, *, full: bool, licenses: bool = False
    ) -> dict[str, Any]:
        """The claims the real server puts in an identity token for ``audience``."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "aud": audience,
            "azp": self.unique_id,
            "email": self.email,
            "email_verified": True,
            "exp": now + self.token_lifetime,
            "iat": now,
            "iss": "https://accounts.google.com",
            "sub": self.unique_id,
        }
        if full and self.compute_engine_claims:
            block: dict[str, Any] = {
                "instance_creation_timestamp": self.instance_creation_timestamp,
                "instance_id": self.instance_id,
                "instance_name": self.instance_name,
                "project_id": self.project_id,
                "project_number": int(self.project_number),
                "zone": self.zone,
            }
            if licenses:
                block["license_id"] = list(self.licenses)
            claims["google"] = {"compute_engine": block}
        return claims

    def base_headers(self) -> dict[str, str]:
        return {"Metadata-Flavor": "Google", "Server": self.server_header}

    # -- request handling -------------------------------------------------------------------
    def handle(self, handler: EmulatorHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        key = path[len(ROOT) :] if path.startswith(ROOT) else path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        handler.read_body()  # drain, so keep-alive stays in sync
        self.count(key)

        if handler.headers.get("X-Forwarded-For") is not None:
            handler.reply(403, _error_page(403, "Request had X-Forwarded-For header."), _HTML)
            return
        if handler.headers.get("Metadata-Flavor") != "Google":
            detail = "Missing required header: Metadata-Flavor: Google"
            handler.reply(403, _error_page(403, detail), _HTML)
            return

        fault = self.faults.take(key)
        if fault is not None and handler.run_fault(fault):
            return
        token_fault = fault if isinstance(fault, Token) else None

        if path == "/":
            handler.reply(200, b"computeMetadata/\n", _TEXT)
            return
        if method not in ("GET", "POST") or not path.startswith(ROOT):
            self._not_found(handler, path)
            return
        self._route(handler, key, query, token_fault)

    def _not_found(self, handler: EmulatorHandler, path: str) -> None:
        detail = f"The requested URL <code>{path}</code> was not found on this server."
        handler.reply(404, _error_page(404, detail), _HTML)

    def _route(
        self, handler: EmulatorHandler, key: str, query: dict[str, str], token_fault: Token | None
    ) -> None:
        simple: dict[str, str] = {
            "instance/name": self.instance_name,
            "instance/id": self.instance_id,
            "instance/zone": f"projects/{self.project_number}/zones/{self.zone}",
            "project/project-id": self.project_id,
            "project/numeric-project-id": self.project_number,
            "universe/universe-domain": "googleapis.com",
        }
        if self.region is not None:
            simple["instance/region"] = f"projects/{self.project_number}/regions/{self.region}"
        if key == "instance/attributes/":
            handler.reply(200, "".join(k + "\n" for k in sorted(self.attributes)).encode(), _TEXT)
            return
        if key.startswith("instance/attributes/") and key[20:] in self.attributes:
            simple[key] = self.attributes[key[20:]]
        if key in simple:
            handler.reply(200, simple[key].encode(), _TEXT)
            return
        if key == "instance/service-accounts/":
            listing = f"default/\n{self.email}/\n" if self.has_service_account else ""
            handler.reply(200, listing.encode(), _TEXT)
            return
        prefix = "instance/service-accounts/"
        if not key.startswith(prefix):
            self._not_found(handler, ROOT + key)
            return
        account, _, rest = key[len(prefix) :].partition("/")
        if not self.has_service_account or account not in ("default", self.email):
            self._not_found(handler, ROOT + key)
            return
        self._service_account(handler, key, rest, query, token_fault)

    def _service_account(
        self,
        handler: EmulatorHandler,
        key: str,
        rest: str,
        query: dict[str, str],
        token_fault: Token | None,
    ) -> None:
        if rest == "" and query.get("recursive", "").lower() == "true":
            info = {"aliases": ["default"], "email": self.email, "scopes": self.scopes}
            handler.reply(200, json.dumps(info).encode(), _JSON)
        elif rest == "":
            handler.reply(200, b"aliases\nemail\nidentity\nscopes\ntoken\n", _TEXT)
        elif rest == "email":
            handler.reply(200, self.email.encode(), _TEXT)
        elif rest == "aliases":
            handler.reply(200, b"default\n", _TEXT)
        elif rest == "scopes":
            handler.reply(200, "".join(s + "\n" for s in self.scopes).encode(), _TEXT)
        elif rest == "token":
            self._access_token(handler)
        elif rest == "identity":
            self._identity(handler, query, token_fault)
        else:
            self._not_found(handler, ROOT + key)

    def _access_token(self, handler: EmulatorHandler) -> None:
        if self._issue_access_token is not None:
            token = self._issue_access_token(self.email, self.token_lifetime)
        else:
            token = "ya29.c.emulator-" + secrets.token_urlsafe(48)
        body = {
            "access_token": token,
            "expires_in": self.token_lifetime - 1,
            "token_type": "Bearer",
        }
        handler.reply(200, json.dumps(body).encode(), _JSON)

    def _identity(
        self, handler: EmulatorHandler, query: dict[str, str], fault: Token | None
    ) -> None:
        audience = query.get("audience", "")
        fmt = query.get("format", "standard")
        if not audience:
            handler.reply(400, b"non-empty audience parameter required\n", _TEXT)
            return
        if fmt not in ("standard", "full"):
            handler.reply(400, b"invalid format parameter: use standard or full\n", _TEXT)
            return
        with self._lock:
            self._last_audience = audience
        if self.identity_refusal is not None:
            status, text = self.identity_refusal
            handler.reply(status, text.encode() + b"\n", _TEXT)
            return
        licenses = fmt == "full" and query.get("licenses", "FALSE").upper() == "TRUE"
        claims = self.identity_claims(audience, full=fmt == "full", licenses=licenses)
        if fault is not None:
            claims = fault.apply(claims)
        handler.reply(200, self.signer.sign(claims).encode("ascii"), _TEXT)
