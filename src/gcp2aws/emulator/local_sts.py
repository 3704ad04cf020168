"""A local AWS STS: moto's server behind a counting, fault-injecting loopback proxy."""

from __future__ import annotations

import http.client
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from gcp2aws.emulator._server import BaseEmulator, EmulatorHandler
from gcp2aws.emulator.faults import Fault, StsError
from gcp2aws.emulator.signer import Signer, split_jwt
from gcp2aws.errors import ConfigError

# Headers that describe one hop, not the message: the proxy sets its own.
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
)


GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/sts/aws4_request")


def sts_error_body(code: str, message: str, *, type_: str = "Sender") -> bytes:
    """The XML document STS answers a refused request with."""
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
        f"  <Error>\n    <Type>{escape(type_)}</Type>\n    <Code>{escape(code)}</Code>\n"
        f"    <Message>{escape(message)}</Message>\n  </Error>\n"
        f"  <RequestId>{uuid.uuid4()}</RequestId>\n</ErrorResponse>\n"
    ).encode()


def _quiet_werkzeug() -> None:
    # werkzeug attaches its own stderr handler at INFO unless the level is already set; a
    # request log on stderr would pollute what credential_process users see.
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class LocalSts(BaseEmulator):
    """AWS STS on loopback for tests and demos (needs ``pip install 'gcp2aws[demo]'``).

    moto answers every action (it accepts any web identity token without checking it);
    this proxy in front counts requests per STS ``Action`` in :attr:`calls` and plays
    injected faults, e.g. ``sts.inject(StsError("IDPCommunicationError", "..."))``.
    Point botocore at it with ``endpoint_url=sts.url`` or ``AWS_ENDPOINT_URL_STS``.
    """

    server_header: ClassVar[str] = "AmazonSTS-emulator"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 30.0,
        verify_with: Signer | None = None,
        issuers: tuple[str, ...] = GOOGLE_ISSUERS,
        audiences: tuple[str, ...] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create (not start) the local STS.

        With ``verify_with`` (e.g. ``metadata.signer``), AssumeRoleWithWebIdentity first checks
        the token like STS would: RS256 signature by that key, ``iss`` accounts.google.com and
        ``exp`` in the future, answering InvalidIdentityToken / ExpiredTokenException otherwise.
        ``issuers`` and ``audiences`` stand for the account's OIDC providers and their client
        IDs (for a Kubernetes cluster's issuer, say); ``audiences=None`` accepts any ``aud``.
        """
        super().__init__(host=host, port=port)
        self._moto: Any = None
        self._moto_address: tuple[str, int] | None = None
        self._timeout = timeout
        self._verify_with = verify_with
        self._issuers = issuers
        self._audiences = audiences
        self._clock = clock
        self._last_claims: dict[str, Any] | None = None
        self._signed_regions: list[tuple[str, str]] = []

    def start(self) -> LocalSts:
        """Start moto on a free loopback port, then the proxy; returns self."""
        if self._moto is None:
            try:
                from moto.server import ThreadedMotoServer
            except ImportError as exc:
                raise ConfigError(
                    "the local STS needs moto, which is not installed",
                    hint="pip install 'gcp2aws[demo]'",
                ) from exc
            _quiet_werkzeug()
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            moto.start()
            self._moto = moto
            host, port = moto.get_host_and_port()
            self._moto_address = (host, int(port))
        super().start()
        return self

    def stop(self) -> None:
        """Stop the proxy and moto."""
        super().stop()
        moto, self._moto = self._moto, None
        if moto is not None:
            moto.stop()
            # ThreadedMotoServer.stop() leaves the listening socket open.
            server = getattr(moto, "_server", None)
            if server is not None:
                server.server_close()

    def inject(self, fault: Fault, times: int = 1, action: str = "") -> None:
        """Apply ``fault`` to the next ``times`` requests for STS ``action`` (matched exactly;
        empty: any request)."""
        self.faults.push(fault, times=times, match=action, exact=bool(action))

    @property
    def assume_calls(self) -> int:
        """AssumeRoleWithWebIdentity requests seen (faulted ones included)."""
        return self.calls["AssumeRoleWithWebIdentity"]

    @property
    def last_token_claims(self) -> dict[str, Any] | None:
        """Claims of the latest WebIdentityToken received (decoded, not verified)."""
        with self._lock:
            return self._last_claims

    @property
    def signed_regions(self) -> list[tuple[str, str]]:
        """(action, region) of each SigV4-signed request, from its credential scope: the
        region a client resolved (unsigned AssumeRoleWithWebIdentity calls are not listed)."""
        with self._lock:
            return list(self._signed_regions)

    def reset_calls(self) -> None:
        super().reset_calls()
        with self._lock:
            self._signed_regions.clear()

    def _record_region(self, action: str, authorization: str) -> None:
        # "AWS4-HMAC-SHA256 Credential=AKID/20261202/ap-northeast-1/sts/aws4_request, ..."
        match = _SCOPE_RE.search(authorization)
        if match:
            with self._lock:
                self._signed_regions.append((action, match.group(1)))

    def _check_token(self, token: str) -> StsError | None:
        try:
            _, claims, _, _ = split_jwt(token)
        except (ValueError, UnicodeDecodeError):
            claims = None
        with self._lock:
            self._last_claims = claims
        if self._verify_with is None:
            return None
        try:
            claims = self._verify_with.verify(token)
        except (ValueError, UnicodeDecodeError):
            return StsError("InvalidIdentityToken", "The web identity token signature is invalid")
        if claims.get("iss") not in self._issuers:
            if self._issuers == GOOGLE_ISSUERS:
                return StsError(
                    "InvalidIdentityToken", "The token issuer is not accounts.google.com"
                )
            return StsError(
                "InvalidIdentityToken",
                "No OpenIDConnect provider found in your account for "
                f"{str(claims.get('iss'))[:200]}",
            )
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audiences is not None and not set(map(str, audiences)) & set(self._audiences):
            return StsError("InvalidIdentityToken", "Incorrect token audience")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= self._clock():
            return StsError("ExpiredTokenException", "Token expired: the token exp is in the past")
        return None

    def base_headers(self) -> dict[str, str]:
        return {"x-amzn-RequestId": str(uuid.uuid4())}

    def handle(self, handler: EmulatorHandler, method: str) -> None:
        body = handler.read_body()
        parts = urlsplit(handler.path)
        fields = dict(parse_qsl(parts.query))
        if handler.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            fields.update(parse_qsl(body.decode("utf-8", "replace")))
        action = fields.get("Action", "")
        self.count(action or parts.path)
        self._record_region(action, handler.headers.get("Authorization", ""))
        fault = self.faults.take(action)
        if fault is None and action == "AssumeRoleWithWebIdentity":
            fault = self._check_token(fields.get("WebIdentityToken", ""))
        if isinstance(fault, StsError):
            doc = sts_error_body(fault.code, fault.message, type_=fault.type)
            handler.reply(fault.status, doc, {"Content-Type": "text/xml"})
            return
        if fault is not None and handler.run_fault(fault):
            return
        self._forward(handler, method, body)

    def _forward(self, handler: EmulatorHandler, method: str, body: bytes) -> None:
        if self._moto_address is None:
            handler.reply(503, sts_error_body("ServiceUnavailable", "moto is not running"))
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        conn = http.client.HTTPConnection(*self._moto_address, timeout=self._timeout)
        try:
            conn.request(method, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            handler.reply(
                502,
                sts_error_body("InternalFailure", "the local STS backend failed", type_="Receiver"),
                {"Content-Type": "text/xml"},
            )
            return
        finally:
            conn.close()
        out = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_HEADERS}
        handler.reply(response.status, payload, out, base_headers=False)
