"""The token file: atomic 0600 writes, concurrent readers, and the refresh watcher's loop."""

from __future__ import annotations

import gc
import os
import stat
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from gcp2aws.delivery.tokenfile import Watcher, read_token, write_atomic
from gcp2aws.emulator.signer import Signer
from gcp2aws.errors import ConfigError, TokenUnavailableError
from gcp2aws.idtoken.jwt import decode_unverified
from gcp2aws.models import IdToken

SIGNER = Signer()


def make_token(now: float, lifetime: int = 3600, *, pad: int = 0) -> IdToken:
    claims = {
        "aud": "sts.amazonaws.com",
        "azp": "123",
        "sub": "123",
        "iat": int(now),
        "exp": int(now) + lifetime,
        "pad": "x" * pad,
    }
    return decode_unverified(SIGNER.sign(claims), source="test")


class FakeTime:
    """A clock and a wait() that advances it: the watcher's loop runs without sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- write_atomic ----------------------------------------------------------------------------


def test_write_is_bare_token_0600(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "token"
    old = os.umask(0)  # a permissive umask must not widen the file
    try:
        write_atomic(str(path), b"abc.def.ghi")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"abc.def.ghi"  # no trailing newline
    assert mode_of(path) == 0o600
    assert os.listdir(tmp_path / "d") == ["token"]  # no temp file left behind


@pytest.mark.parametrize("mode", [0o640, 0o644])
def test_write_with_shared_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"old")
    path.chmod(0o600)
    write_atomic(str(path), b"new", mode)
    assert path.read_bytes() == b"new"
    assert mode_of(path) == mode


def test_write_into_missing_directory_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write token file"):
        write_atomic(str(tmp_path / "nope" / "token"), b"x")


def test_write_replaces_not_truncates(tmp_path: Path) -> None:
    """The old inode is untouched: an open reader keeps reading the old token whole."""
    path = tmp_path / "token"
    write_atomic(str(path), b"first-token")
    with open(path, "rb") as reader:
        write_atomic(str(path), b"second")
        assert reader.read() == b"first-token"
    assert path.read_bytes() == b"second"


def test_concurrent_readers_never_see_partial_or_empty(tmp_path: Path) -> None:
    path = tmp_path / "token"
    tokens = [make_token(time.time(), pad=n * 400).raw.encode() for n in range(3)]
    write_atomic(str(path), tokens[0])
    stop = threading.Event()
    bad: list[bytes] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            reads[0] += 1
            if data not in tokens:
                bad.append(data)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(200):
        write_atomic(str(path), tokens[i % 3])
    stop.set()
    for t in threads:
        t.join()
    assert reads[0] > 50
    assert bad == []


def test_read_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert read_token(str(path)) is None
    path.write_text("not a jwt")
    assert read_token(str(path)) is None
    token = make_token(1000)
    path.write_text(token.raw)
    found = read_token(str(path))
    assert found is not None
    assert found.expires_at == 4600


# -- Watcher ---------------------------------------------------------------------------------


def fetcher(ft: FakeTime, lifetime: int = 3600) -> Callable[[], IdToken]:
    def fetch() -> IdToken:
        return make_token(ft.now, lifetime)

    return fetch


def test_watcher_refreshes_ahead_of_exp(tmp_path: Path) -> None:
    ft = FakeTime()
    lines: list[str] = []
    path = tmp_path / "token"
    w = Watcher(fetcher(ft), str(path), clock=ft.clock, wait=ft.wait, report=lines.append)
    assert w.run(max_refreshes=3) == 0
    assert w.refreshes == 3
    assert len(lines) == 3
    assert all(line.startswith(f"wrote {path}") and "next refresh in" in line for line in lines)
    # each wait ends 5 to 11 minutes before the token's exp
    assert len(ft.waits) == 2
    assert all(3600 - 660 <= w_ <= 3600 - 300 for w_ in ft.waits)
    assert read_token(str(path)) is not None


def test_failed_refresh_leaves_the_good_file_and_retries(tmp_path: Path) -> None:
    ft = FakeTime()
    path = tmp_path / "token"
    good = make_token(ft.now, 3600)
    write_atomic(str(path), good.raw.encode())
    calls = [0]

    def flaky() -> IdToken:
        calls[0] += 1
        if calls[0] <= 3:
            raise TokenUnavailableError("metadata: HTTP 503", transient=True)
        return make_token(ft.now)

    lines: list[str] = []
    w = Watcher(flaky, str(path), clock=ft.clock, wait=ft.wait, report=lines.append)
    w.run(max_refreshes=1)
    assert calls[0] == 4
    assert next(line for line in lines if "refresh failed" in line).endswith("s")
    assert sum("refresh failed" in line for line in lines) == 3
    assert "the file stays valid for" in lines[0]
    # backoff: short, growing, never zero
    assert 0.5 <= ft.waits[0] <= 1.0
    assert ft.waits[2] > ft.waits[0] / 2
    assert path.read_text() != good.raw  # replaced once a fresh token came


def test_file_untouched_while_failing(tmp_path: Path) -> None:
    ft = FakeTime()
    path = tmp_path / "token"
    write_atomic(str(path), b"previous")
    before = path.stat().st_mtime_ns
    stop = threading.Event()

    def failing() -> IdToken:
        if len(ft.waits) >= 5:
            stop.set()
        raise TokenUnavailableError("down", transient=True)

    w = Watcher(failing, str(path), clock=ft.clock, wait=ft.wait, stop=stop, report=lambda s: None)
    w.run()
    assert w.failures >= 5
    assert path.read_bytes() == b"previous"
    assert path.stat().st_mtime_ns == before


def test_config_error_before_first_success_is_raised(tmp_path: Path) -> None:
    ft = FakeTime()

    def broken() -> IdToken:
        raise ConfigError("no credentials")

    w = Watcher(broken, str(tmp_path / "t"), clock=ft.clock, wait=ft.wait, report=lambda s: None)
    with pytest.raises(ConfigError):
        w.run()
    assert not (tmp_path / "t").exists()


def test_once_skips_a_fresh_file_and_replaces_a_stale_one(tmp_path: Path) -> None:
    ft = FakeTime()
    path = tmp_path / "token"
    calls = [0]

    def fetch() -> IdToken:
        calls[0] += 1
        return make_token(ft.now)

    w = Watcher(fetch, str(path), clock=ft.clock, wait=ft.wait, report=lambda s: None)
    assert w.once() is True  # missing
    assert w.once() is False  # fresh
    assert calls[0] == 1
    ft.now += 3600 - 200  # within the 300 s lead
    assert w.once() is True
    assert calls[0] == 2


def test_stop_event_wakes_a_sleeping_watcher(tmp_path: Path) -> None:
    stop = threading.Event()
    w = Watcher(
        lambda: make_token(time.time(), 3600),
        str(tmp_path / "token"),
        stop=stop,
        report=lambda s: None,
    )
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(w.run()))
    thread.start()
    for _ in range(200):
        if w.refreshes:
            break
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert result == [0]


@pytest.mark.slow
def test_memory_stays_flat_over_1000_refreshes(tmp_path: Path) -> None:
    ft = FakeTime()
    (tmp_path / "d").mkdir()
    path = tmp_path / "d" / "token"
    tokens = [make_token(0, 2).raw for _ in range(4)]

    def fetch() -> IdToken:
        # very short lifetimes: exp 2 s after "now"
        raw = tokens[int(ft.now) % 4]
        tok = decode_unverified(raw, source="test")
        return IdToken(
            raw=tok.raw,
            header=tok.header,
            claims={**tok.claims, "exp": int(ft.now) + 2},
            source="test",
        )

    w = Watcher(fetch, str(path), clock=ft.clock, wait=ft.wait, report=lambda s: None)
    w.run(max_refreshes=100)
    ft.waits.clear()
    gc.collect()
    tracemalloc.start()
    try:
        w.run(max_refreshes=200)  # refreshes counts on: 100 more
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        w.run(max_refreshes=1100)  # 900 more
        gc.collect()
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert w.refreshes == 1100
    assert second - first < 64 * 1024, (first, second)
    assert os.listdir(tmp_path / "d") == ["token"]
