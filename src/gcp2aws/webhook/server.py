"""The admission webhook's HTTPS server: ``POST /mutate``, ``/healthz``, ``/readyz``, ``/metrics``.

TLS is terminated per connection with the current :class:`certs.ReloadingContext`, in the
connection's own thread (a slow handshake holds no one else up, and the header deadline of
:mod:`gcp2aws.httpserver` covers it). Every answer is logged as one JSON line.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from gcp2aws.httpserver import GuardedHandler, GuardedHTTPServer
from gcp2aws.webhook import review
from gcp2aws.webhook.certs import ReloadingContext
from gcp2aws.webhook.metrics import CONTENT_TYPE, Metrics
from gcp2aws.webhook.mutate import Options

log = logging.getLogger("gcp2aws.webhook")

MUTATE_PATH = "/mutate"
# The API server caps a request at 3 MiB and a review carries the object (and, on UPDATE, the
# old object): twice that is the most a genuine review can hold.
MAX_BODY = 6 << 20
BODY_DEADLINE = 10.0  # seconds to receive a whole body once its headers are in
MAX_CONNECTIONS = 128


class _TLSServer(GuardedHTTPServer):
    tls: ReloadingContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        try:
            wrapped = self.tls.context().wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError):
            sock.close()
            raise
        return wrapped, address


class _Handler(GuardedHandler):
    server: _TLSServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.do_handshake()
        except (OSError, ssl.SSLError):
            self.close_connection = True
            self._failed_handshake = True
        else:
            self._failed_handshake = False

    def handle(self) -> None:
        if not self._failed_handshake:
            super().handle()

    def do_GET(self) -> None:
        self.server.app.get(self)

    def do_POST(self) -> None:
        self.server.app.post(self)

    def _not_allowed(self) -> None:
        self.server.app.send(self, 405, review.status(405, "method not allowed"))

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        self.server.app.send(self, code, review.status(code, "malformed HTTP request"))


class WebhookServer:
    """The webhook: :meth:`start` it, :meth:`stop` it; ``lookup`` reads ServiceAccounts."""

    def __init__(
        self,
        *,
        tls: ReloadingContext,
        lookup: review.Lookup,
        options: Options,
        metrics: Metrics,
        ready: Callable[[], bool],
        host: str = "0.0.0.0",  # noqa: S104 - the API server reaches it through a Service
        port: int = 8443,
        log_stream: IO[str] | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.tls, self.lookup, self.options = tls, lookup, options
        self.metrics, self.ready = metrics, ready
        self.host, self._port = host, port
        self.log_stream = log_stream
        self.max_connections = max_connections
        self._log_lock = threading.Lock()
        self._httpd: _TLSServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> WebhookServer:
        httpd = _TLSServer(
            (self.host, self._port), _Handler, self, max_connections=self.max_connections
        )
        httpd.tls = self.tls
        self._httpd = httpd
        for name, target in (("serve", self._serve), ("reap", self._reap)):
            thread = threading.Thread(target=target, name=f"gcp2aws-webhook-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None  # noqa: S101 - only read once started
        return int(self._httpd.server_address[1])

    def _serve(self) -> None:
        assert self._httpd is not None  # noqa: S101 - set before the thread starts
        self._httpd.serve_forever(poll_interval=0.2)

    def _reap(self) -> None:
        while not self._stopping.wait(0.5):
            if self._httpd is not None:
                self._httpd.reap()

    def stop(self) -> None:
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- requests ----------------------------------------------------------------------------

    def get(self, req: _Handler) -> None:
        path = req.path.split("?", 1)[0]
        if path == "/healthz":
            self.send(req, 200, {"status": "ok"})
        elif path == "/readyz":
            ready = self.ready()
            self.send(req, 200 if ready else 503, {"status": "ok" if ready else "not ready"})
        elif path == "/metrics":
            self._send_bytes(req, 200, self.metrics.exposition(), CONTENT_TYPE)
        else:
            self.send(req, 404, review.status(404, "not found"))

    def post(self, req: _Handler) -> None:
        started = time.perf_counter()
        if req.path.split("?", 1)[0] != MUTATE_PATH:
            self.send(req, 404, review.status(404, "not found"))
            return
        uid: str | None = None
        try:
            request = review.parse(self._read_body(req))
            uid = request["uid"]
            result = review.answer(request, self.lookup, self.options)
        except _BodyError as exc:
            self._fail(req, exc.code, exc.reason, str(exc), started=started, uid=uid)
            return
        except review.ReviewError as exc:
            self._fail(req, 400, "bad_review", str(exc), started=started, uid=uid)
            return
        except review.LookupFailedError as exc:
            self._fail(req, 500, "lookup_failed", str(exc), started=started, uid=uid)
            return
        except Exception as exc:  # a bug must not take the webhook down, nor leak a traceback
            log.debug("admission failed", exc_info=True)
            self._fail(req, 500, "internal", type(exc).__name__, started=started, uid=uid)
            return
        elapsed = time.perf_counter() - started
        # Counted and logged before the answer leaves: whoever saw it can read the metric.
        self.metrics.admissions.labels(result.outcome, result.reason).inc()
        self.metrics.latency.observe(elapsed)
        self._log(
            "admission",
            uid=uid,
            outcome=result.outcome,
            reason=result.reason,
            namespace=result.namespace,
            serviceAccount=result.service_account,
            mode=result.mode or None,
            containers=result.containers or None,
            warnings=result.response["response"].get("warnings"),
            durationMs=round(elapsed * 1000, 3),
        )
        self.send(req, 200, result.response)

    def _fail(
        self,
        req: _Handler,
        code: int,
        reason: str,
        message: str,
        *,
        started: float,
        uid: str | None,
    ) -> None:
        elapsed = time.perf_counter() - started
        self.metrics.admissions.labels("error", reason).inc()
        self.metrics.latency.observe(elapsed)
        self._log(
            "admission failed",
            level="warning",
            uid=uid,
            outcome="error",
            reason=reason,
            status=code,
            error=message,
            durationMs=round(elapsed * 1000, 3),
        )
        self.send(req, code, review.status(code, message))

    def _read_body(self, req: _Handler) -> bytes:
        length_text = req.headers.get("Content-Length")
        if req.headers.get("Transfer-Encoding"):
            raise _BodyError(411, "no_length", "chunked bodies are not accepted: send a length")
        if length_text is None:
            raise _BodyError(411, "no_length", "a Content-Length is required")
        if not length_text.isascii() or not length_text.isdigit() or len(length_text) > 12:
            raise _BodyError(400, "bad_length", "the Content-Length is not a number")
        length = int(length_text)
        if length > MAX_BODY:
            req.close_connection = True
            raise _BodyError(413, "too_large", f"the review is over {MAX_BODY} bytes")
        deadline = time.monotonic() + BODY_DEADLINE
        chunks, received = [], 0
        while received < length:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                req.close_connection = True
                raise _BodyError(408, "body_timeout", "the body did not arrive in time")
            req.connection.settimeout(remaining)
            try:
                chunk = req.rfile.read1(min(length - received, 1 << 16))
            except (TimeoutError, OSError):
                req.close_connection = True
                raise _BodyError(408, "body_timeout", "the body did not arrive in time") from None
            if not chunk:
                req.close_connection = True
                raise _BodyError(400, "short_body", "the body ended before its Content-Length")
            chunks.append(chunk)
            received += len(chunk)
        req.connection.settimeout(req.timeout)
        return b"".join(chunks)

    # --- output ------------------------------------------------------------------------------

    def send(self, req: _Handler, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._send_bytes(req, code, data, "application/json")

    def _send_bytes(self, req: _Handler, code: int, data: bytes, content_type: str) -> None:
        head = [
            f"HTTP/1.1 {code} {_phrase(code)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(data)}",
        ]
        if req.close_connection:
            head.append("Connection: close")
        try:
            req.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        except OSError:
            req.close_connection = True

    def _log(self, message: str, *, level: str = "info", **fields: Any) -> None:
        if self.log_stream is None:
            return
        record = {"time": now_rfc3339(), "level": level, "msg": message}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":"))
        with self._log_lock:
            self.log_stream.write(line + "\n")
            self.log_stream.flush()


class _BodyError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


def _phrase(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def now_rfc3339() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
