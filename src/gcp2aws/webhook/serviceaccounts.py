"""ServiceAccount annotations, from the API server: a list-then-watch cache and a bounded GET.

The reflector is the usual client-go shape, on lightkube: list every ServiceAccount (keeping
only the ``gcp2aws.io/*`` annotations), then watch from the list's resourceVersion. When the
watch ends, fails or reports ``410 Gone`` (the version was compacted away), it lists again,
which also forgets ServiceAccounts deleted while it was away. The API server ends each watch
after ``timeoutSeconds``; a watch silent for longer than that plus a grace period is a dead
connection, and its read times out (lightkube reads watches without a timeout by default), so
a half-open connection cannot stall the cache forever.

A review for a ServiceAccount the cache has not seen (created a moment before its Pods, as one
``kubectl apply`` does) falls back to a GET with a short deadline.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from gcp2aws.webhook import injection
from gcp2aws.webhook.review import LookupFailedError

if TYPE_CHECKING:
    from lightkube import Client

log = logging.getLogger("gcp2aws.webhook")

WATCH_TIMEOUT = 300  # seconds the API server keeps one watch open (timeoutSeconds)
WATCH_GRACE = 30  # silence past timeoutSeconds after which the watch's read times out
LIST_TIMEOUT = 10.0  # one page of the list; watches have no read timeout, hence the watchdog
GET_TIMEOUT = 2.0  # a cache miss during admission: the webhook's own timeout is 5 s
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
Key = tuple[str, str]


def _ours(annotations: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (annotations or {}).items() if k.startswith(injection.PREFIX)}


class ServiceAccountCache:
    """Annotations of every ServiceAccount, kept current by :meth:`run` in a thread."""

    def __init__(
        self,
        client_factory: Callable[[float], Client],
        *,
        on_event: Callable[[str], None] | None = None,
        watch_timeout: int = WATCH_TIMEOUT,
        get_timeout: float = GET_TIMEOUT,
    ) -> None:
        self._factory = client_factory
        self._on_event = on_event or (lambda _kind: None)
        self._watch_timeout = watch_timeout
        self._get_timeout = get_timeout
        self._lock = threading.Lock()
        self._items: dict[Key, dict[str, str]] = {}
        self._client: Client | None = None
        self.synced = threading.Event()
        self._stop = threading.Event()

    # --- reads -------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def lookup(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The ServiceAccount's gcp2aws annotations; ``None`` if it does not exist."""
        with self._lock:
            found = self._items.get((namespace, name))
        if found is not None:
            self._on_event("hit")
            return found
        self._on_event("miss")
        return self._get(namespace, name)

    def _get(self, namespace: str, name: str) -> Mapping[str, str] | None:
        import httpx2
        from lightkube import ApiError
        from lightkube.resources.core_v1 import ServiceAccount

        try:
            client = self._factory(self._get_timeout)
            try:
                account = client.get(ServiceAccount, name, namespace=namespace)
            finally:
                client.close()
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise LookupFailedError(
                f"reading ServiceAccount {namespace}/{name}: the API server answered "
                f"{exc.status.code}"
            ) from None
        except (httpx2.HTTPError, OSError) as exc:
            raise LookupFailedError(
                f"reading ServiceAccount {namespace}/{name}: {type(exc).__name__}"
            ) from None
        annotations = _ours(account.metadata.annotations if account.metadata else None)
        self._store(namespace, name, annotations)
        return annotations

    def _store(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        with self._lock:
            self._items[(namespace, name)] = annotations

    # --- the reflector -----------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._close_client()

    def run(self) -> None:
        """List and watch until :meth:`stop`; every failure is logged, backed off, retried."""
        backoff = BACKOFF_INITIAL
        while not self._stop.is_set():
            try:
                version = self._relist()
                backoff = BACKOFF_INITIAL
                self._watch(version)
            except Exception as exc:  # any failure: back off and list again
                if self._stop.is_set():
                    break
                self._on_event("watch_error")
                log.warning("ServiceAccount watch: %s; listing again", _describe(exc))
                self._stop.wait(backoff * (0.5 + random.random()))  # noqa: S311
                backoff = min(backoff * 2, BACKOFF_MAX)
            finally:
                self._close_client()

    def _connect(self) -> Client:
        client = self._factory(LIST_TIMEOUT)
        _bound_watch_reads(client, self._watch_timeout + WATCH_GRACE)
        with self._lock:
            self._client = client
        return client

    def _close_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _relist(self) -> str:
        from lightkube.resources.core_v1 import ServiceAccount

        client = self._connect()
        listing = client.list(ServiceAccount, namespace="*", chunk_size=500)
        items: dict[Key, dict[str, str]] = {}
        for account in listing:
            meta = account.metadata
            if meta is not None and meta.name and meta.namespace:
                items[(meta.namespace, meta.name)] = _ours(meta.annotations)
        with self._lock:
            self._items = items
        self.synced.set()
        self._on_event("relist")
        return listing.resourceVersion

    def _watch(self, version: str) -> None:
        from lightkube.resources.core_v1 import ServiceAccount
        from lightkube.types import OnErrorAction, OnErrorResult

        client = self._client or self._connect()

        def give_up(_exc: Exception, _count: int) -> OnErrorResult:
            return OnErrorResult(OnErrorAction.RAISE)

        events: Iterator[tuple[str, Any]] = client.watch(
            ServiceAccount,
            namespace="*",
            server_timeout=self._watch_timeout,
            resource_version=version,
            on_error=give_up,
        )
        for kind, account in events:
            meta = account.metadata
            if self._stop.is_set():
                return
            if kind == "BOOKMARK" or meta is None or not meta.name or not meta.namespace:
                continue
            key = (meta.namespace, meta.name)
            with self._lock:
                if kind == "DELETED":
                    self._items.pop(key, None)
                else:
                    self._items[key] = _ours(meta.annotations)
            self._on_event(kind.lower())


def _bound_watch_reads(client: Client, seconds: float) -> None:
    """Give the client's watches a read timeout: lightkube sets none (its ``_watch_timeout``)."""
    inner = getattr(client, "_client", None)
    timeout = getattr(inner, "_watch_timeout", None)
    if timeout is not None and hasattr(timeout, "read"):
        timeout.read = seconds


def _describe(exc: BaseException) -> str:
    from lightkube import ApiError

    if isinstance(exc, ApiError):
        return f"the API server answered {exc.status.code} {exc.status.reason or ''}".strip()
    return type(exc).__name__
