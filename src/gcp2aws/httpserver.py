"""A threaded HTTP server for local and in-cluster services that a flood cannot exhaust.

The standard library's ``ThreadingHTTPServer`` (one thread per keep-alive connection, no
dependency), with three defences: from accept, or from the end of the previous answer, a
connection has ``header_deadline`` seconds to deliver a whole request head (no byte resets
it; a reaper closes it after); past ``max_connections`` the longest-waiting connection is
shed, never the newcomer; and out of file descriptors (EMFILE), a few waiting connections are
shed and accepting backs off instead of spinning. Used by ``serve`` and by ``webhook``.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import logging
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 60.0  # a socket timeout, per read: the backstop behind HEADER_DEADLINE
# From accept, or from the end of the previous response, a connection has this long to deliver
# a whole request head; no byte resets it. An SDK sends its request at once, so this is both
# the header deadline and the keep-alive idle timeout.
HEADER_DEADLINE = 5.0
MAX_CONNECTIONS = 256  # connections held at once; past it the longest-waiting one is shed
REAP_INTERVAL = 0.5
ACCEPT_BACKOFF = 0.05  # after EMFILE/ENFILE, instead of spinning on a readable listener
EMFILE_SHED = 32  # connections shed per EMFILE: room for the newcomer and a few more


class GuardedHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that a local flood cannot exhaust (see the module docstring)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # 16+ clients connecting at once must not overflow the backlog
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[GuardedHandler],
        app: Any,
        *,
        max_connections: int = MAX_CONNECTIONS,
        header_deadline: float = HEADER_DEADLINE,
    ) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.max_connections = max_connections
        self.header_deadline = header_deadline
        # socket -> monotonic time it began waiting for a request head; None while one is
        # being answered (answers come from memory, so that is brief and never shed).
        self.connections: dict[socket.socket, float | None] = {}
        self.connections_lock = threading.Lock()
        self.shed = 0  # connections closed for holding an incomplete request (for tests)
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) we have no use for.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                # Out of descriptors: the listener stays readable, so select() would wake us
                # at once forever. Free a few by shedding the longest-waiting, and back off.
                self._shed_oldest(count=EMFILE_SHED)
                time.sleep(ACCEPT_BACKOFF)
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            crowded = len(self.connections) >= self.max_connections
            self.connections[request] = time.monotonic()
        if crowded:  # shed the longest-waiting partial request, never the newcomer
            self._shed_oldest(keep=request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.pop(request, None)
        super().shutdown_request(request)

    def mark(self, sock: socket.socket, *, busy: bool) -> None:
        with self.connections_lock:
            if sock in self.connections:
                self.connections[sock] = None if busy else time.monotonic()

    def _close(self, socks: list[socket.socket]) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes its thread, which then exits

    def _shed_oldest(self, keep: socket.socket | None = None, count: int = 1) -> None:
        with self.connections_lock:
            waiting = [
                (t, s) for s, t in self.connections.items() if t is not None and s is not keep
            ]
            oldest = [sock for _, sock in heapq.nsmallest(count, waiting, key=lambda p: p[0])]
            for sock in oldest:
                self.connections[sock] = None  # once
            self.shed += len(oldest)
        self._close(oldest)

    def reap(self) -> None:
        """Close every connection that has waited past the header deadline."""
        cutoff = time.monotonic() - self.header_deadline
        with self.connections_lock:
            late = [s for s, t in self.connections.items() if t is not None and t < cutoff]
            for sock in late:
                self.connections[sock] = None
            self.shed += len(late)
        self._close(late)

    def drop_connections(self) -> None:
        with self.connections_lock:
            sockets = list(self.connections)
        self._close(sockets)


class GuardedHandler(BaseHTTPRequestHandler):
    """Marks its connection busy from a complete request head to the end of the answer."""

    protocol_version = "HTTP/1.1"
    # Nagle plus a delayed ACK costs ~40 ms per keep-alive request; replies also go in one write.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: GuardedHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)

    def parse_request(self) -> bool:
        parsed = super().parse_request()  # reads the headers: still waiting until it returns
        # The whole head is in: from here the connection is being answered, not waiting.
        self.server.mark(self.connection, busy=True)
        return parsed

    def handle_one_request(self) -> None:
        self.started = time.perf_counter()
        super().handle_one_request()
        self.server.mark(self.connection, busy=False)  # waiting for the next request head
