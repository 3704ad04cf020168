"""A stand-in Kubernetes API server for ServiceAccounts, speaking the real list/watch wire format.

No kube-apiserver can run here, so this serves exactly what the webhook's client uses, the way
the API server does:

- ``GET /api/v1/serviceaccounts?limit=N[&continue=T]``: a ``ServiceAccountList`` whose
  ``metadata`` carries the ``resourceVersion`` (and ``continue`` while pages remain);
- ``GET /api/v1/serviceaccounts?watch=true&resourceVersion=V&timeoutSeconds=S``: a chunked
  stream of ``{"type": ..., "object": ...}`` lines; a ``resourceVersion`` older than the
  retained history gets one ``ERROR`` event carrying a ``410 Expired`` Status, as etcd
  compaction causes;
- ``GET /api/v1/namespaces/NS/serviceaccounts/NAME``: the object, or a ``404 NotFound`` Status.

Tests change ServiceAccounts, compact the history, cut open watches and make requests fail.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeKubeApi:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 100
        self._accounts: dict[tuple[str, str], dict[str, Any]] = {}
        self._events: list[tuple[int, str, dict[str, Any]]] = []
        self._oldest = self._version  # watches from below this get 410
        self._generation = 0  # bumped by drop_watches()
        self._stalled = False  # every watch, open or new, hangs silent: see stall_watches()
        self._stopped = False
        self.requests: list[str] = []  # "list", "watch", "get", "expired"
        self.fail_next: list[int] = []  # HTTP codes for the next requests, in order
        self.get_delay = 0.0
        self._httpd: ThreadingHTTPServer | None = None

    # --- the cluster's state -----------------------------------------------------------------

    def put(self, namespace: str, name: str, annotations: dict[str, str] | None = None) -> None:
        with self._cond:
            self._version += 1
            key = (namespace, name)
            kind = "MODIFIED" if key in self._accounts else "ADDED"
            obj = {
                "kind": "ServiceAccount",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": f"uid-{namespace}-{name}",
                    "resourceVersion": str(self._version),
                    "creationTimestamp": "2026-12-01T00:00:00Z",
                    **({"annotations": dict(annotations)} if annotations else {}),
                },
            }
            self._accounts[key] = obj
            self._events.append((self._version, kind, obj))
            self._cond.notify_all()

    def delete(self, namespace: str, name: str) -> None:
        with self._cond:
            obj = self._accounts.pop((namespace, name))
            self._version += 1
            gone = json.loads(json.dumps(obj))
            gone["metadata"]["resourceVersion"] = str(self._version)
            self._events.append((self._version, "DELETED", gone))
            self._cond.notify_all()

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does: older versions now expire.

        The global resourceVersion moves on too (other objects are written all the time), so
        a client resuming from the last ServiceAccount version it saw is now too old.
        """
        with self._cond:
            self._version += 1
            self._events.clear()
            self._oldest = self._version
            self._cond.notify_all()

    def drop_watches(self) -> None:
        """End every open watch stream at once (an API server restart, a dropped link)."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def stall_watches(self) -> None:
        """From now on every watch, open or new, stays open and sends nothing, as through a
        half-open connection; lists and GETs still work."""
        with self._cond:
            self._stalled = True
            self._cond.notify_all()

    def count(self, kind: str) -> int:
        with self._cond:
            return self.requests.count(kind)

    # --- serving -----------------------------------------------------------------------------

    def start(self) -> FakeKubeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            with self._cond:
                self._stopped = True
            self.drop_watches()
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        with self._cond:
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            self.requests.append("failed")
            self._json(req, failure, _status(failure, "InternalError", "injected failure"))
            return
        if parts == ["api", "v1", "serviceaccounts"] and query.get("watch") == "true":
            self._watch(req, query)
        elif parts == ["api", "v1", "serviceaccounts"]:
            self._list(req, query)
        elif (
            len(parts) == 6
            and parts[:3] == ["api", "v1", "namespaces"]
            and parts[4] == ("serviceaccounts")
        ):
            self._get(req, parts[3], parts[5])
        else:
            self._json(req, 404, _status(404, "NotFound", "the server could not find it"))

    def _list(self, req: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        with self._cond:
            self.requests.append("list")
            items = [self._accounts[key] for key in sorted(self._accounts)]
            version = str(self._version)
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": version}
        if start + limit < len(items):
            metadata["continue"] = str(start + limit)
        body = {
            "kind": "ServiceAccountList",
            "apiVersion": "v1",
            "metadata": metadata,
            # Items of a list carry no kind/apiVersion, as the API server sends them.
            "items": [
                {k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in page
            ],
        }
        self._json(req, 200, body)

    def _get(self, req: BaseHTTPRequestHandler, namespace: str, name: str) -> None:
        if self.get_delay:
            time.sleep(self.get_delay)
        with self._cond:
            self.requests.append("get")
            obj = self._accounts.get((namespace, name))
        if obj is None:
            message = f'serviceaccounts "{name}" not found'
            self._json(req, 404, _status(404, "NotFound", message))
        else:
            self._json(req, 200, obj)

    def _watch(self, req: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 1800)
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        deadline = time.monotonic() + timeout
        with self._cond:
            self.requests.append("watch")
            generation = self._generation
            if since and since < self._oldest:
                self.requests.append("expired")
                message = f"too old resource version: {since} ({self._oldest})"
                event = {"type": "ERROR", "object": _status(410, "Expired", message)}
                self._chunk(req, event)
                self._end(req)
                return
            if not since:  # no version: the current state first, as ADDED events
                pending = [(self._version, "ADDED", obj) for obj in self._accounts.values()]
                since = self._version
            else:
                pending = [e for e in self._events if e[0] > since]
        while True:
            for version, kind, obj in pending:
                if not self._chunk(req, {"type": kind, "object": obj}):
                    return
                since = version
            with self._cond:
                while True:
                    if self._stalled and not self._stopped:
                        self._cond.wait(0.2)  # silent, connection held open
                        continue
                    if self._generation != generation or self._stopped:
                        req.close_connection = True
                        return  # cut: no terminating chunk, as a dropped link
                    pending = [e for e in self._events if e[0] > since]
                    if pending:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._end(req)
                        return
                    self._cond.wait(min(left, 0.2))

    @staticmethod
    def _chunk(req: BaseHTTPRequestHandler, event: dict[str, Any]) -> bool:
        data = (json.dumps(event) + "\n").encode()
        try:
            req.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            req.wfile.flush()
        except OSError:
            return False
        return True

    @staticmethod
    def _end(req: BaseHTTPRequestHandler) -> None:
        try:
            req.wfile.write(b"0\r\n\r\n")
            req.wfile.flush()
        except OSError:
            pass

    @staticmethod
    def _json(req: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        req.send_response(code)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


@contextmanager
def running() -> Iterator[FakeKubeApi]:
    api = FakeKubeApi().start()
    try:
        yield api
    finally:
        api.stop()
