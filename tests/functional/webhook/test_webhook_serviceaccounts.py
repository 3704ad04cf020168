"""The ServiceAccount cache against a stand-in API server speaking the real list/watch JSON:
sync, events, cut and silent watches, resourceVersion expiry, failing lists, pagination and
the bounded GET on a miss."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gcp2aws.cli.webhook import _client_factory
from gcp2aws.webhook import serviceaccounts
from gcp2aws.webhook.review import LookupFailedError
from gcp2aws.webhook.serviceaccounts import ServiceAccountCache
from tests.support.kube_api import FakeKubeApi

ROLE = {"gcp2aws.io/role-arn": "arn:aws:iam::123456789012:role/app"}


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Reflector:
    def __init__(self, api: FakeKubeApi, tmp: Path, **kwargs: float) -> None:
        factory = _client_factory(str(api.write_kubeconfig(tmp / "kubeconfig")), {})
        self.events: list[str] = []
        self.cache = ServiceAccountCache(factory, on_event=self.events.append, **kwargs)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.cache.run, daemon=True)

    def start(self) -> Reflector:
        self.thread.start()
        assert self.cache.synced.wait(10)
        return self

    def stop(self) -> None:
        self.cache.stop()


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    server = FakeKubeApi().start()
    server.put("shop", "app", {**ROLE, "unrelated.example/x": "kept out"})
    server.put("shop", "default")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reflector(api: FakeKubeApi, tmp_path: Path) -> Iterator[Reflector]:
    running = Reflector(api, tmp_path).start()
    assert eventually(lambda: api.count("watch") == 1)  # listed, and now watching
    try:
        yield running
    finally:
        running.stop()


def test_the_list_fills_the_cache_with_only_gcp2aws_annotations(
    api: FakeKubeApi, reflector: Reflector
) -> None:
    assert reflector.cache.lookup("shop", "app") == ROLE
    assert reflector.cache.lookup("shop", "default") == {}
    assert len(reflector.cache) == 2
    assert api.count("get") == 0  # both answered from the cache


def test_watch_events_keep_it_current(api: FakeKubeApi, reflector: Reflector) -> None:
    api.put("shop", "new", ROLE)
    assert eventually(lambda: len(reflector.cache) == 3)
    api.put("shop", "app", {})  # the annotation removed
    assert eventually(lambda: reflector.cache.lookup("shop", "app") == {})
    api.delete("shop", "new")
    assert eventually(lambda: len(reflector.cache) == 2)
    assert api.count("list") == 1
    assert {"added", "modified", "deleted"} <= set(reflector.events)


def test_a_cut_watch_lists_again_and_forgets_what_was_deleted_meanwhile(
    api: FakeKubeApi, reflector: Reflector
) -> None:
    api.drop_watches()
    api.delete("shop", "app")  # while the reflector is away
    assert eventually(lambda: api.count("list") >= 2 and len(reflector.cache) == 1)
    assert "watch_error" in reflector.events


def test_an_expired_resource_version_lists_again(api: FakeKubeApi, tmp_path: Path) -> None:
    # A 1 s server-side timeout: the watch ends cleanly and is resumed from its last version,
    # which compaction has made too old: the API server answers 410 Expired.
    running = Reflector(api, tmp_path, watch_timeout=1).start()
    try:
        api.put("shop", "other", ROLE)
        assert eventually(lambda: len(running.cache) == 3)
        api.compact()
        assert eventually(lambda: api.count("expired") >= 1)
        assert eventually(lambda: api.count("list") >= 2)
        api.put("shop", "after", ROLE)
        assert eventually(lambda: running.cache.lookup("shop", "after") == ROLE)
    finally:
        running.stop()


def test_a_silent_watch_times_out_and_lists_again(
    api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serviceaccounts, "WATCH_GRACE", 1)
    running = Reflector(api, tmp_path, watch_timeout=1).start()
    try:
        api.stall_watches()  # a half-open connection: open, but nothing ever comes
        api.put("shop", "late", ROLE)
        assert eventually(lambda: api.count("list") >= 2 and len(running.cache) == 3, seconds=15)
        assert running.cache.lookup("shop", "late") == ROLE
        assert api.count("get") == 0  # the relist brought it, not a miss
    finally:
        running.stop()


def test_failing_lists_are_retried_with_backoff(api: FakeKubeApi, tmp_path: Path) -> None:
    api.fail_next = [500, 503, 429]
    running = Reflector(api, tmp_path)
    running.thread.start()
    try:
        assert running.cache.synced.wait(20)
        assert api.count("failed") == 3
        assert running.events.count("watch_error") == 3
        assert running.cache.lookup("shop", "app") == ROLE
    finally:
        running.stop()


def test_the_list_is_read_in_pages(api: FakeKubeApi, tmp_path: Path) -> None:
    for i in range(1203):
        api.put(f"ns{i % 7}", f"sa{i}")
    running = Reflector(api, tmp_path).start()
    try:
        assert len(running.cache) == 1205
        assert api.count("list") == 3  # 500 + 500 + 205
    finally:
        running.stop()


def test_a_miss_gets_the_service_account_once(api: FakeKubeApi, reflector: Reflector) -> None:
    api.stall_watches()  # the watch will not bring it: only the GET can
    api.put("shop", "fresh", ROLE)
    assert reflector.cache.lookup("shop", "fresh") == ROLE
    assert reflector.cache.lookup("shop", "fresh") == ROLE
    assert api.count("get") == 1
    assert reflector.cache.lookup("shop", "missing") is None


def test_a_miss_that_the_api_server_cannot_answer_fails_the_lookup(
    api: FakeKubeApi, reflector: Reflector
) -> None:
    api.fail_next = [500]
    with pytest.raises(LookupFailedError, match="answered 500"):
        reflector.cache.lookup("shop", "unknown")


def test_a_slow_miss_is_bounded(api: FakeKubeApi, tmp_path: Path) -> None:
    factory = _client_factory(str(api.write_kubeconfig(tmp_path / "kubeconfig")), {})
    cache = ServiceAccountCache(factory, get_timeout=0.5)
    api.get_delay = 3.0
    started = time.monotonic()
    with pytest.raises(LookupFailedError, match="Timeout"):
        cache.lookup("shop", "app")
    assert time.monotonic() - started < 2.5
