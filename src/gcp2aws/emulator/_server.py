"""HTTP plumbing shared by the emulators: threaded keep-alive server, replies, faults, counters."""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from gcp2aws.emulator.faults import Body, Drip, Fault, FaultQueue, Hang, Reset, Status

log = logging.getLogger(__name__)

_E = TypeVar("_E", bound="BaseEmulator")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A handler stuck in a Hang fault must not block stop().
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: BaseEmulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, EmulatorHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut every kept-alive connection, so clients of a stopped emulator see it gone."""
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Parses requests and hands them to the emulator; replies go out in one write."""

    protocol_version = "HTTP/1.1"
    # Header and body in separate segments would otherwise wait for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.server.emulator.__class__.__name__, *args)

    def version_string(self) -> str:
        return self.server.emulator.server_header

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            self.server.emulator.handle(self, method)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def read_body(self) -> bytes:
        """The request body (Content-Length framed; chunked uploads are not supported)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _head(self, status: int, headers: Mapping[str, str], length: int) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {status} {phrase}"]
        merged = {"Date": email.utils.formatdate(usegmt=True), **headers}
        merged["Content-Length"] = str(length)
        lines += [f"{name}: {value}" for name, value in merged.items()]
        if merged.get("Connection", "").lower() == "close":
            self.close_connection = True
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        base_headers: bool = True,
    ) -> None:
        """Send a complete response (status line, headers and body) in a single write."""
        merged: dict[str, str] = {}
        if base_headers:
            merged.update(self.server.emulator.base_headers())
        merged.update(headers or {})
        self.wfile.write(self._head(status, merged, len(body)) + body)
        self.log_request(status, len(body))

    def reply_json(
        self, status: int, document: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``document`` as ``application/json; charset=UTF-8``."""
        merged = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        self.reply(status, json.dumps(document, indent=2).encode("utf-8") + b"\n", merged)

    def run_fault(self, fault: Fault) -> bool:
        """Act out a transport-level fault; return False for faults the emulator handles itself."""
        stopping = self.server.emulator.stopping
        if isinstance(fault, Status):
            self.reply(fault.code, fault.body, {"Content-Type": "text/plain; charset=utf-8"})
        elif isinstance(fault, Body):
            self.reply(fault.status, fault.body, fault.headers, base_headers=False)
        elif isinstance(fault, Hang):
            stopping.wait(fault.seconds)
            self.close_connection = True
        elif isinstance(fault, Drip):
            head = self._head(fault.status, self.server.emulator.base_headers(), len(fault.body))
            dripped = head + fault.body if fault.headers else fault.body
            if not fault.headers:
                self.wfile.write(head)
            for i in range(len(dripped)):
                if stopping.wait(fault.interval):
                    break
                self.wfile.write(dripped[i : i + 1])
                self.wfile.flush()
        elif isinstance(fault, Reset):
            self._reset()
        else:
            return False
        return True

    def _reset(self) -> None:
        body = b'{"access_token": "partial'
        head = self._head(200, {"Content-Type": "application/json"}, len(body) * 4)
        self.wfile.write(head + body)
        # Give the partial reply a moment to leave before the RST discards the send buffer.
        self.server.emulator.stopping.wait(0.05)
        # SO_LINGER 0 turns close() into a TCP RST; the read file holds a reference to the
        # socket, so it must be closed first for close() to reach the kernel.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True


class BaseEmulator:
    """Start/stop, address, request counters and fault queue shared by every emulator."""

    server_header: ClassVar[str] = "gcp2aws-emulator"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._calls: collections.Counter[str] = collections.Counter()
        self.faults = FaultQueue()
        self.stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self: _E) -> _E:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{type(self).__name__}:{self.address}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the one asked for until started)."""
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        return f"http://{self.address}"

    # -- counters and faults ----------------------------------------------------------------
    @property
    def calls(self) -> collections.Counter[str]:
        """A snapshot of the request counts per key (the path, without its query)."""
        with self._lock:
            return collections.Counter(self._calls)

    def count(self, key: str) -> None:
        """Count one request under ``key``."""
        with self._lock:
            self._calls[key] += 1

    def reset_calls(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._calls.clear()

    def inject(self, fault: Fault, times: int = 1, path_prefix: str = "") -> None:
        """Apply ``fault`` to the next ``times`` requests whose path starts with ``path_prefix``."""
        self.faults.push(fault, times=times, match=path_prefix)

    # -- for subclasses ---------------------------------------------------------------------
    def base_headers(self) -> dict[str, str]:
        """Headers every reply carries (Date and Content-Length are added separately)."""
        return {"Server": self.server_header}

    def handle(self, handler: EmulatorHandler, method: str) -> None:
        """Answer one request."""
        raise NotImplementedError
