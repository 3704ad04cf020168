"""The container credentials endpoint: a loopback HTTP server with background refresh.

AWS SDKs read ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and send
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` as the ``Authorization`` header. Requests are answered
from memory; a background thread refreshes through ``CredentialProvider.get`` (shared disk
cache and lock) as the credentials enter the refresh window
(``schedule.credentials_refresh_at``), so no request ever waits on STS once the first set is
in. Served by the standard library's threaded server: one thread per keep-alive connection is
plenty for a per-host sidecar, and it adds no dependency (see docs/consumers.md).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TextIO

from gcp2aws import envvars, formats
from gcp2aws.delivery import schedule, server_auth
from gcp2aws.errors import ConfigError, Gcp2AwsError, UsageError
from gcp2aws.httpserver import (
    HEADER_DEADLINE,
    MAX_CONNECTIONS,
    REAP_INTERVAL,
    GuardedHandler,
    GuardedHTTPServer,
)
from gcp2aws.models import AwsCredentials
from gcp2aws.provider import Result
from gcp2aws.sanitize import for_terminal
from gcp2aws.settings import Settings

log = logging.getLogger(__name__)

CREDENTIALS_PATH = "/"
HEALTH_PATH = "/healthz"
MAX_BODY = 1 << 16
MIN_REFRESH_DELAY = schedule.MIN_REFRESH_DELAY  # wait before retrying a missing set
SHUTDOWN_GRACE = 2.0  # seconds in-flight requests get to finish on stop()


def refresh_delay(
    creds: AwsCredentials, now: float, window: float, rng: random.Random | None = None
) -> float:
    """Seconds until the next refresh, on ``schedule.credentials_refresh_at``.

    That is just after the credentials enter the refresh window, when ``CredentialProvider.get``
    stops answering from the cache, plus jitter that spreads a fleet of sidecars started
    together; with the default 1200 s window the refresh starts with at least 900 s left
    (botocore's advisory refresh window). ``rng=None`` means no jitter.
    """
    expiration = now + creds.remaining(now)
    return schedule.credentials_refresh_at(expiration, now, window=window, rng=rng) - now


class _Handler(GuardedHandler):
    def do_GET(self) -> None:
        self.server.app.handle(self)

    def _not_allowed(self) -> None:
        self.server.app.reply(self, 405, {"Message": "only GET is supported"}, {"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib answers malformed requests with an HTML page; clients expect JSON.
        self.close_connection = True
        try:
            text = message or HTTPStatus(code).phrase
        except ValueError:
            text = "error"
        self.server.app.reply(self, code, {"Message": text}, {"Connection": "close"})


class CredentialServer:
    """Serve one role's credentials to local SDKs until ``stop()``.

    ``get`` is ``CredentialProvider.get`` (or anything returning a ``Result``). ``start()``
    fetches the first set synchronously (so a broken setup fails before anyone is told the
    address), then serves and refreshes in daemon threads.
    """

    def __init__(
        self,
        get: Callable[[], Result],
        *,
        refresh_window: float,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_token: str | None = None,
        allow_non_loopback: bool = False,
        access_log: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        max_connections: int = MAX_CONNECTIONS,
        header_deadline: float = HEADER_DEADLINE,
    ) -> None:
        if max_connections < 1:
            raise UsageError(
                f"--max-connections {max_connections} is too small", hint="Pass 1 or more"
            )
        self.max_connections = max_connections
        self.header_deadline = header_deadline
        self._get = get
        self.refresh_window = refresh_window
        self.host = server_auth.check_bind_address(host, allow_non_loopback=allow_non_loopback)
        self._port = port
        self.auth_token = auth_token or server_auth.new_token()
        self._expected = self.auth_token.encode("ascii")
        self._access_log = access_log
        self._log_lock = threading.Lock()
        self.clock = clock
        self._httpd: GuardedHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._failures = 0  # refreshes failed in a row
        self._due_at: float | None = None  # when the next refresh is due (clock time)
        self._allowed_hosts: frozenset[str] = frozenset()
        # (credentials, response body): swapped as one reference, so readers need no lock.
        self._current: tuple[AwsCredentials, bytes] | None = None
        self._last_error = ""
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._rng = random.Random()  # noqa: S311 - jitter only
        self.refreshes = 0  # successful background refreshes (for tests and benchmarks)
        self._shed_at_stop = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, *, refresh_thread: bool = True) -> CredentialServer:
        """Fetch the first set, listen, and refresh in the background; with
        ``refresh_thread=False`` the caller runs :meth:`refresh_forever` in its own (main)
        thread instead, where the STS call's deadline can interrupt a dripping server."""
        self._install(self._get().credentials)
        self._httpd = GuardedHTTPServer(
            (self.host, self._port),
            _Handler,
            self,
            max_connections=self.max_connections,
            header_deadline=self.header_deadline,
        )
        self._allowed_hosts = server_auth.allowed_hosts(self.host, self.port)
        threads: list[tuple[str, Callable[[], None]]] = [
            ("serve", self._serve),
            ("reap", self._reap),
        ]
        if refresh_thread:
            threads.append(("refresh", lambda: self._refresh_loop(self._stopping)))
        for name, target in threads:
            thread = threading.Thread(target=target, name=f"gcp2aws-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self) -> None:
        assert self._httpd is not None  # noqa: S101 - set before the thread starts
        self._httpd.serve_forever(poll_interval=0.2)

    def _reap(self) -> None:
        while not self._stopping.wait(REAP_INTERVAL):
            httpd = self._httpd
            if httpd is not None:
                httpd.reap()

    @property
    def shed(self) -> int:
        """Connections closed so far for holding an incomplete request too long."""
        return self._httpd.shed if self._httpd is not None else self._shed_at_stop

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (briefly), close every connection."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._shed_at_stop = httpd.shed
        httpd.shutdown()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.01)
        httpd.drop_connections()
        httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=SHUTDOWN_GRACE)

    def __enter__(self) -> CredentialServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "not started"  # noqa: S101
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::"):  # noqa: S104 - clients on this host use loopback
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{CREDENTIALS_PATH}"

    def client_env(self, token_file: str | None = None) -> dict[str, str]:
        """The variables an SDK needs to use this endpoint."""
        env = {envvars.AWS_CONTAINER_CREDENTIALS_FULL_URI: self.url}
        if token_file:
            env[envvars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE] = token_file
        else:
            env[envvars.AWS_CONTAINER_AUTHORIZATION_TOKEN] = self.auth_token
        return env

    @property
    def current(self) -> AwsCredentials | None:
        state = self._current
        return state[0] if state else None

    # -- refresh ------------------------------------------------------------------------------
    def _install(self, creds: AwsCredentials) -> None:
        self._current = (creds, formats.container_endpoint(creds).encode())

    def refresh_forever(self, stop: threading.Event) -> None:
        """The refresh loop in the calling thread, until ``stop`` (or :meth:`stop`) is set."""
        self._refresh_loop(stop)

    def refresh_due_in(self) -> float:
        """Seconds until the next refresh is due (for a caller that runs :meth:`refresh_now`
        itself, between other waits: ``exec --server`` between signals)."""
        if self._due_at is None:
            self._due_at = self.clock() + self._next_delay()
        return max(0.0, self._due_at - self.clock())

    def _next_delay(self) -> float:
        state = self._current
        now = self.clock()
        if state is None:
            return MIN_REFRESH_DELAY
        if self._failures:
            return schedule.retry_delay(
                self._failures, rng=self._rng, until=state[0].remaining(now)
            )
        return refresh_delay(state[0], now, self.refresh_window, self._rng)

    def _refresh_loop(self, stop: threading.Event) -> None:
        while not (stop.wait(self.refresh_due_in()) or self._stopping.is_set()):
            self.refresh_now()

    def refresh_now(self) -> None:
        """One refresh; a failure is logged and retried later, the current set kept."""
        self._due_at = None  # the next one is scheduled from the outcome of this one
        try:
            result = self._get()
        except Gcp2AwsError as exc:
            self._failures += 1
            self._last_error = exc.one_line()
            log.warning(
                "credential refresh failed (%s); still serving the current set while it is valid",
                self._last_error,
            )
            return
        except Exception as exc:  # keep serving: a bug here must not kill the endpoint
            self._failures += 1
            self._last_error = f"internal error: {type(exc).__name__}"
            log.warning("credential refresh failed: %s", self._last_error)
            log.debug("refresh traceback (a bug: please report it)", exc_info=True)
            return
        old = self.current
        self._install(result.credentials)
        if result.stale:
            self._failures += 1  # the provider already logged why; retry with backoff
            return
        self._failures = 0
        self._last_error = ""
        if old is None or old.access_key_id != result.credentials.access_key_id:
            self.refreshes += 1
            log.info(
                "credentials refreshed: key %s, expires %s",
                result.credentials.redacted_key_id(),
                formats.rfc3339(result.credentials.expiration),
            )

    # -- requests -----------------------------------------------------------------------------
    def handle(self, req: _Handler) -> None:
        with self._busy_lock:
            self._busy += 1
        try:
            self._respond(req)
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _respond(self, req: _Handler) -> tuple[int, str]:
        length = req.headers.get("Content-Length")
        if length:
            # A body on GET is pointless but legal; drain it so keep-alive framing holds.
            # ASCII digits only, and few: int() refuses "²" and more than 4300 digits.
            if (
                not (length.isascii() and length.isdigit() and len(length) < 10)
                or int(length) > MAX_BODY
            ):
                return self.reply(
                    req, 413, {"Message": "request body too large"}, {"Connection": "close"}
                ), ""
            req.rfile.read(int(length))
        path = req.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            # No auth and no Host check: it says only whether credentials can be served now,
            # so a liveness or readiness probe sees the same thing a client would.
            if self._servable() is None:
                return self.reply(req, 503, {"status": "unavailable"}), ""
            return self.reply(req, 200, {"status": "ok"}), ""
        host = (req.headers.get("Host") or "").lower()
        if host not in self._allowed_hosts or req.headers.get("Origin") is not None:
            return self.reply(
                req,
                403,
                {
                    "Message": "forbidden: Host must be a loopback "
                    "address (DNS rebinding protection)"
                },
            ), ""
        authorization = req.headers.get("Authorization")
        if authorization is None:
            return self.reply(
                req,
                401,
                {"Message": "missing Authorization header: set AWS_CONTAINER_AUTHORIZATION_TOKEN"},
            ), ""
        if not server_auth.token_matches(self._expected, authorization):
            return self.reply(req, 403, {"Message": "invalid authorization token"}), ""
        if path != CREDENTIALS_PATH:
            return self.reply(
                req, 404, {"Message": f"not found; credentials are at {CREDENTIALS_PATH}"}
            ), ""
        state = self._servable()
        if state is None:
            reason = self._last_error or "no credentials yet"
            return self.reply(req, 503, {"Message": f"no valid credentials: {reason}"}), ""
        self._send(req, 200, state[1], None, key=state[0].redacted_key_id())
        return 200, state[0].redacted_key_id()

    def _servable(self) -> tuple[AwsCredentials, bytes] | None:
        state = self._current
        if state is None or state[0].remaining(self.clock()) <= 0:
            return None
        return state

    def reply(
        self, req: _Handler, status: int, doc: dict[str, str], headers: dict[str, str] | None = None
    ) -> int:
        self._send(req, status, json.dumps(doc).encode(), headers)
        return status

    def _send(
        self,
        req: _Handler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None,
        *,
        key: str = "",
    ) -> None:
        """One write per response, and one access-log line for every response (the HTTP
        layer's own 400/405/414/431/501/505 answers included)."""
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            "Server: gcp2aws",
            f"Date: {email.utils.formatdate(usegmt=True)}",
            "Content-Type: application/json",
            "Cache-Control: no-store",
            f"Content-Length: {len(body)}",
        ]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
            if name == "Connection" and value == "close":
                req.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            req.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall
        except OSError:
            req.close_connection = True
        if self._access_log is not None:
            self._log_access(req, status, key, getattr(req, "started", time.perf_counter()))

    def _log_access(self, req: _Handler, status: int, key: str, started: float) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
            "event": "request",
            "remote": req.client_address[0],
            "method": for_terminal(req.command or "", 16) or None,
            "path": for_terminal((getattr(req, "path", "") or "").split("?", 1)[0], 200),
            "status": status,
            "key": key or None,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        }
        line = json.dumps(record) + "\n"
        assert self._access_log is not None  # noqa: S101 - checked by the caller
        with self._log_lock:
            try:
                self._access_log.write(line)
                self._access_log.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must not break serving


def start(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_non_loopback: bool = False,
    access_log: TextIO | None = None,
    max_connections: int = MAX_CONNECTIONS,
    refresh_thread: bool = True,
) -> CredentialServer:
    """Build and start the endpoint for ``settings``; the first credentials are in on return.

    Raises:
        UsageError: no role ARN, or a port out of range.
        ConfigError: the address cannot be bound.
    """
    from gcp2aws import sts
    from gcp2aws.provider import CredentialProvider

    settings.require_role_arn()
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid port {port}", hint="Pass --port between 0 and 65535")
    # One botocore session for the server's life: a new one per refresh would re-load the
    # endpoint and service models every time (slower, and more memory churn).
    provider = CredentialProvider(settings, environ=environ, botocore_session=sts.new_session())
    server = CredentialServer(
        provider.get,
        refresh_window=settings.refresh_window,
        host=host,
        port=port,
        allow_non_loopback=allow_non_loopback,
        access_log=access_log,
        max_connections=max_connections,
    )
    try:
        return server.start(refresh_thread=refresh_thread)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host} port {port}: {exc.strerror}",
            hint="Pick another --port, or 0 for any free port",
        ) from exc
