"""The GCE metadata server token source (Compute Engine, GKE, Cloud Run, Functions, Build).

The identity endpoint is one GET, so we speak it with ``http.client`` and honour the same
conventions as google-auth (GCE_METADATA_HOST / GCE_METADATA_ROOT, GCE_METADATA_IP,
``Metadata-Flavor: Google``, bounded retries) instead of importing ``requests`` for it.
Connections go direct: an HTTP proxy must never see a metadata request.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from gcp2aws import envvars, validation
from gcp2aws.errors import DeadlineExceededError, TokenUnavailableError
from gcp2aws.idtoken.jwt import decode_unverified
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline, backoff_delays, sleep_within, watchdog
from gcp2aws.sanitize import for_terminal

if TYPE_CHECKING:
    from gcp2aws.settings import Settings

log = logging.getLogger(__name__)

NAME = "metadata"
DEFAULT_HOST = "metadata.google.internal"
DEFAULT_IP = "169.254.169.254"
IDENTITY_PATH = "instance/service-accounts/default/identity"
ATTEMPT_TIMEOUT = 3.0  # google-auth's metadata default
MAX_ATTEMPTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY = 1 << 20
CLOUD_BUILD_DEFAULT_SA_DOMAIN = "@cloudbuild.gserviceaccount.com"
# What GKE's metadata server is believed to say for a KSA with no Google service account; the
# cluster-name attribute is the primary signal, since the exact text is unconfirmed.
GKE_UNANNOTATED_TEXT = "not annotated with a target Google service account"


def metadata_host(environ: Mapping[str, str]) -> str:
    """The metadata server's host[:port]; ConfigError for a value that is anything else."""
    for name in (envvars.GCE_METADATA_HOST, envvars.GCE_METADATA_ROOT):
        if environ.get(name):
            return validation.metadata_host(environ[name], name=name)
    return DEFAULT_HOST


def detection_ip(environ: Mapping[str, str]) -> str:
    value = environ.get(envvars.GCE_METADATA_IP)
    if not value:
        return DEFAULT_IP
    return validation.metadata_host(value, name=envvars.GCE_METADATA_IP)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Transient(Exception):
    """One attempt failed in a way that another attempt may not."""


class MetadataClient:
    """GETs against one metadata server, with per-attempt timeouts and bounded retries."""

    def __init__(
        self,
        host: str,
        *,
        attempt_timeout: float = ATTEMPT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.host = host
        self.attempt_timeout = attempt_timeout
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._rng = rng

    def _once(self, path: str, deadline: Deadline) -> Reply:
        # A whole-attempt budget, so a server that drips one byte at a time cannot hold us.
        attempt = Deadline(deadline.clip(self.attempt_timeout))
        conn = http.client.HTTPConnection(self.host, timeout=attempt.clip(self.attempt_timeout))
        try:
            with watchdog(attempt, lambda: _abort(conn)):
                return self._exchange(conn, path, attempt)
        except _Transient:
            if attempt.expired():
                raise _Transient(f"no complete answer within {attempt.seconds:.1f}s") from None
            raise
        except TimeoutError as exc:
            raise _Transient(f"no answer within {attempt.seconds:.1f}s") from exc
        except (http.client.HTTPException, OSError) as exc:
            if attempt.expired():  # the watchdog closed it: headers or body dripped
                raise _Transient(f"no complete answer within {attempt.seconds:.1f}s") from exc
            raise _Transient(_describe_oserror(exc)) from exc
        finally:
            conn.close()

    def _exchange(self, conn: http.client.HTTPConnection, path: str, attempt: Deadline) -> Reply:
        conn.request(
            "GET",
            "/computeMetadata/v1/" + path,
            headers={"Metadata-Flavor": "Google", "User-Agent": "gcp2aws"},
        )
        resp = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            if conn.sock is not None:
                conn.sock.settimeout(attempt.clip(self.attempt_timeout))
            if attempt.expired():
                raise _Transient(f"no complete answer within {attempt.seconds:.1f}s")
            chunk = resp.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY:
                raise _Transient("answer larger than 1 MiB")
            chunks.append(chunk)
        if resp.length:  # the server promised more than it sent
            raise _Transient("connection closed mid-answer")
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return Reply(resp.status, headers, b"".join(chunks))

    def get(self, path: str, deadline: Deadline, *, what: str) -> Reply:
        """GET ``path`` with retries on connection errors, timeouts, 429 and 5xx."""
        delays = backoff_delays(rng=self._rng)
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                reply = self._once(path, deadline)
            except _Transient as exc:
                last = str(exc)
            else:
                if reply.status not in RETRY_STATUSES:
                    return reply
                last = f"HTTP {reply.status}"
            log.debug("metadata %s attempt %d failed: %s", what, attempt, last)
            if attempt == self.max_attempts:
                break
            if not sleep_within(deadline, next(delays), self._sleep):
                raise DeadlineExceededError(
                    f"metadata server at {self.host}: {what} failed ({last}) and the "
                    f"{deadline.seconds:g}s budget ran out"
                )
        raise TokenUnavailableError(
            f"metadata server at {self.host}: {what} failed after {self.max_attempts} "
            f"attempts ({last})",
            hint=_hint_for(last),
            transient=True,
        )

    def ping(self, timeout: float = 1.0) -> bool:
        """True when something answering as the metadata server is at this host."""
        conn = http.client.HTTPConnection(self.host, timeout=timeout)
        try:
            conn.request("GET", "/", headers={"Metadata-Flavor": "Google"})
            resp = conn.getresponse()
            resp.read(1024)
            return resp.getheader("Metadata-Flavor") == "Google"
        except (http.client.HTTPException, OSError):
            return False
        finally:
            conn.close()


def _abort(conn: http.client.HTTPConnection) -> None:
    """Unblock a read in another thread: shutdown() wakes it, where close() may not."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _describe_oserror(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed mid-answer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _hint_for(last: str) -> str:
    if last.startswith("HTTP"):
        return "The metadata server is failing; retry later, and check the VM's status"
    return (
        "Not on Google Cloud? Use --impersonate-service-account or a key file; "
        "otherwise check GCE_METADATA_HOST and that nothing blocks the metadata server"
    )


class MetadataSource:
    """ID tokens from ``instance/service-accounts/default/identity`` (format=full)."""

    name = NAME
    requests_audience = True  # Google mints the token for the audience we ask

    def __init__(self, host: str, *, client: MetadataClient | None = None) -> None:
        self.host = host
        self.client = client or MetadataClient(host)

    def describe(self) -> str:
        return f"metadata server at {self.host}"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        query = urlencode({"audience": audience, "format": "full", "licenses": "FALSE"})
        reply = self.client.get(f"{IDENTITY_PATH}?{query}", deadline, what="ID token request")
        if reply.headers.get("metadata-flavor") != "Google":
            raise TokenUnavailableError(
                f"something other than the metadata server answered at {self.host}: its "
                f"HTTP {reply.status} answer lacks the Metadata-Flavor: Google header",
                hint="A proxy or another server is in the way: set "
                "NO_PROXY=metadata.google.internal,169.254.169.254 and check GCE_METADATA_HOST",
            )
        if reply.status != 200:
            raise self._refusal(reply, deadline)
        try:
            text = reply.body.decode("ascii")
        except UnicodeDecodeError:
            text = "<binary>"
        return decode_unverified(text, source=f"{NAME} ({self.host})")

    def _probe(self, path: str, deadline: Deadline) -> str | None:
        """One GET on the failure path, to tell the runtime apart; None if it says nothing."""
        client = MetadataClient(
            self.host, attempt_timeout=self.client.attempt_timeout, max_attempts=1
        )
        try:
            reply = client.get(path, Deadline(deadline.clip(LOCATION_TIMEOUT)), what=path)
        except (TokenUnavailableError, DeadlineExceededError):
            return None
        if reply.status != 200 or reply.headers.get("metadata-flavor") != "Google":
            return None
        return reply.body[:256].decode("utf-8", "replace").strip() or None

    def _refusal(self, reply: Reply, deadline: Deadline) -> TokenUnavailableError:
        """The error for a refused identity request, naming the runtime's cause and fix."""
        body = reply.body[:512].decode("utf-8", "replace")
        email = self._probe("instance/service-accounts/default/email", deadline) or ""
        if email.endswith(CLOUD_BUILD_DEFAULT_SA_DOMAIN):
            return TokenUnavailableError(
                f"Cloud Build's default service account ({for_terminal(email, 80)}) cannot mint "
                f"ID tokens (HTTP {reply.status})",
                hint="Run the build as a user-specified service account (serviceAccount: in "
                "cloudbuild.yaml) that has iam.serviceAccounts.getOpenIdToken on itself",
            )
        if reply.status == 404:
            cluster = self._probe("instance/attributes/cluster-name", deadline)
            if cluster is not None or GKE_UNANNOTATED_TEXT in body:
                where = f"GKE cluster {for_terminal(cluster, 60)}" if cluster else "GKE"
                return TokenUnavailableError(
                    f"{where}: the pod's Kubernetes service account is not bound to a Google "
                    "service account, so the metadata server cannot mint ID tokens (HTTP 404)",
                    hint="Annotate the KSA with iam.gke.io/gcp-service-account=GSA_EMAIL and grant "
                    "roles/iam.workloadIdentityUser on the GSA to "
                    "serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]",
                )
            return TokenUnavailableError(
                f"metadata server at {self.host} has no service account for this workload "
                "(HTTP 404)",
                hint="Attach a service account to the VM, or on GKE bind the pod's Kubernetes "
                "service account to a Google one (Workload Identity)",
            )
        if reply.status == 403:
            return TokenUnavailableError(
                f"metadata server at {self.host} refused the request (HTTP 403)",
                hint="A proxy may strip the Metadata-Flavor header or add X-Forwarded-For; set "
                "NO_PROXY=metadata.google.internal,169.254.169.254",
            )
        detail = body[:120].strip().splitlines()
        return TokenUnavailableError(
            f"metadata server at {self.host} answered HTTP {reply.status}"
            + (f": {for_terminal(detail[0], 120)}" if detail else ""),
            hint="Check --audience and the instance's service account",
        )


def _on_google_hardware() -> bool:
    try:
        with open("/sys/class/dmi/id/product_name", encoding="ascii", errors="replace") as fh:
            return "Google" in fh.read(256)
    except OSError:
        return False


def detect(environ: Mapping[str, str], *, forced: bool = False) -> MetadataSource | None:
    """The metadata source if this looks like Google Cloud; probes only when it must."""
    host = metadata_host(environ)
    if forced or envvars.GCE_METADATA_HOST in environ or envvars.GCE_METADATA_ROOT in environ:
        return MetadataSource(host)
    if _on_google_hardware():
        return MetadataSource(host)
    # Cloud Run and GKE sandboxes do not show Google DMI data: ask the well-known address.
    ip = detection_ip(environ)
    if MetadataClient(ip).ping(timeout=1.0) or MetadataClient(ip).ping(timeout=1.0):
        return MetadataSource(host)
    return None


def applies(settings: Settings, environ: Mapping[str, str], forced: bool) -> MetadataSource | None:
    return detect(environ, forced=forced)


LOCATION_PATHS = ("instance/zone", "instance/region")
LOCATION_TIMEOUT = 2.0


def workload_location(host: str, *, timeout: float = LOCATION_TIMEOUT) -> str | None:
    """The workload's zone (Compute Engine, GKE) or region (Cloud Run, Functions), as the
    metadata server names it (``projects/NUM/zones/ZONE``); None when it does not say.

    One short attempt per path: ``init`` asks this only to pick a default region, so a slow
    or absent server must cost seconds, not the exchange's whole budget.
    """
    client = MetadataClient(host, attempt_timeout=timeout, max_attempts=1)
    for path in LOCATION_PATHS:
        try:
            reply = client.get(path, Deadline(timeout), what=path)
        except (TokenUnavailableError, DeadlineExceededError):
            return None
        # Only the real server's answer counts: a proxy's page is not a zone.
        if reply.status == 200 and reply.headers.get("metadata-flavor") == "Google":
            text = reply.body[:256].decode("ascii", "replace").strip()
            if text:
                return text
    return None
