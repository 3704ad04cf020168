"""Cache, token and auth-token files are never readable by others, at any moment of a write.

Checked two ways: by construction (the mode of the descriptor at every ``os.write``, and the
order of ``fchmod`` and the first byte) and by observation (a separate process polls the
directory while writes run in a loop, and reports any file it ever sees with a group or other
permission bit). The umask is 000 throughout, so nothing depends on a friendly umask.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import atomicfile
from gcp2aws.cache import CacheEntry, CredentialCache
from gcp2aws.delivery import server_auth, tokenfile
from gcp2aws.errors import ConfigError
from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe
from tests.support.security import watch_modes

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


# -- observation: a watcher process during write loops ---------------------------------------------
def test_the_watcher_sees_a_briefly_readable_file(tmp_path: Path) -> None:
    """The control: the detector catches a file that is 0644 for a moment only."""
    directory = _private_dir(tmp_path / "run")
    with watch_modes(directory, stop_dir=tmp_path) as report:
        for i in range(200):
            path = directory / f".tmp-{i}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            os.close(fd)
            path.unlink()
    assert report.bad


def test_cache_writes_and_locks_never_expose_a_file(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    cache = CredentialCache(str(directory))
    assert cache.unsafe_reason(create=True) is None
    with watch_modes(directory, stop_dir=tmp_path) as report:
        for i in range(400):
            key = f"key-{i % 7}"
            with cache.lock(key, timeout=1):
                cache.write(CacheEntry(key, 2_000_000_000 + i, b"x" * 2000))
    assert report.bad == []
    assert report.polls > 50
    assert report.temp_sightings > 0  # it did see writes in flight, not only their results
    assert _mode(directory) == 0o700
    assert {_mode(p) for p in directory.iterdir()} == {0o600}
    assert not [p for p in directory.iterdir() if p.name.startswith(".tmp-")]


def test_token_file_writes_never_expose_a_file(tmp_path: Path) -> None:
    directory = _private_dir(tmp_path / "run")
    target = directory / "token"
    with watch_modes(directory, stop_dir=tmp_path) as report:
        for _ in range(400):
            tokenfile.write_atomic(str(target), TOKEN.encode())
    assert report.bad == []
    assert report.polls > 50
    assert report.temp_sightings > 0  # it did see writes in flight, not only their results
    assert [p.name for p in directory.iterdir()] == ["token"]
    assert _mode(target) == 0o600


def test_auth_token_file_writes_never_expose_a_file(tmp_path: Path) -> None:
    directory = _private_dir(tmp_path / "run")
    target = directory / "auth-token"
    with watch_modes(directory, stop_dir=tmp_path) as report:
        for _ in range(400):
            server_auth.write_private_file(str(target), server_auth.new_token())
    assert report.bad == []
    assert [p.name for p in directory.iterdir()] == ["auth-token"]
    assert _mode(target) == 0o600


def test_cli_writers_never_expose_a_file(env: Env, tmp_path: Path) -> None:
    """`token --write` and `credentials` (its cache) as real processes, umask 000."""
    run_dir = _private_dir(tmp_path / "run")
    # Under umask 000, mkdir(parents=True) would leave world-writable parents, which the cache
    # refuses (another user could swap the directory): make each level private.
    xdg = Path(env.values["XDG_CACHE_HOME"])
    if xdg.exists():
        xdg.chmod(0o700)
    else:
        _private_dir(xdg)
    cache_dir = _private_dir(xdg / "gcp2aws")
    token_path = run_dir / "token"
    with watch_modes(run_dir, cache_dir, stop_dir=tmp_path) as report:
        for i in range(4):
            for args in (
                ["token", "--write", str(token_path)],
                # a new role each time: a cache miss, so an entry is written
                ["credentials", "--role-arn", f"{ROLE_ARN}-{i}"],
            ):
                proc = subprocess.run(
                    [gcp2aws_exe(), *args],
                    env=env.values,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    preexec_fn=lambda: os.umask(0),
                    check=False,
                )
                assert proc.returncode == 0, proc.stderr
    assert report.bad == []
    assert _mode(token_path) == 0o600
    files = list(cache_dir.iterdir())
    assert files
    assert {_mode(p) for p in files} == {0o600}
    assert not [p for p in [*files, *run_dir.iterdir()] if ".tmp" in p.name]


# -- construction: the descriptor's mode at every byte ---------------------------------------------
class _Spy:
    """Records fchmod calls and the mode of the descriptor at each os.write, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, int]] = []
        real_write: Callable[[int, Any], int] = os.write
        real_fchmod: Callable[[int, int], None] = os.fchmod
        real_open_temp = atomicfile._open_temp

        def write(fd: int, data: Any) -> int:
            self.events.append(("write", stat.S_IMODE(os.fstat(fd).st_mode)))
            return real_write(fd, data)

        def fchmod(fd: int, mode: int) -> None:
            real_fchmod(fd, mode)
            self.events.append(("fchmod", stat.S_IMODE(os.fstat(fd).st_mode)))

        def open_temp(*args: Any, **kwargs: Any) -> tuple[int, str]:
            fd, name = real_open_temp(*args, **kwargs)
            self.events.append(("created", stat.S_IMODE(os.fstat(fd).st_mode)))
            return fd, name

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fchmod", fchmod)
        monkeypatch.setattr(atomicfile, "_open_temp", open_temp)


@pytest.mark.parametrize("mode", tokenfile.ALLOWED_MODES, ids=oct)
def test_token_file_gets_its_mode_before_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    spy = _Spy(monkeypatch)
    tokenfile.write_atomic(str(tmp_path / "token"), TOKEN.encode(), mode)
    writes = [m for kind, m in spy.events if kind == "write"]
    assert writes
    assert set(writes) == {mode}  # the final mode is in place before the first byte
    created = [m for kind, m in spy.events if kind == "created"]
    assert created == [0o600]  # private from birth


def test_cache_entry_bytes_only_ever_go_to_a_0600_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = CredentialCache(str(tmp_path / "cache"))
    assert cache.unsafe_reason(create=True) is None
    spy = _Spy(monkeypatch)
    cache.write(CacheEntry("k", 2_000_000_000, b"secret payload"))
    assert [m for kind, m in spy.events if kind == "created"] == [0o600]
    writes = [m for kind, m in spy.events if kind == "write"]
    assert writes
    assert set(writes) == {0o600}


# -- failures leave nothing behind -----------------------------------------------------------------
def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def write(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)


def test_failed_token_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = _private_dir(tmp_path / "run")
    target = directory / "token"
    target.write_text("old")
    _disk_full(monkeypatch)
    with pytest.raises(ConfigError):
        tokenfile.write_atomic(str(target), TOKEN.encode(), 0o644)
    monkeypatch.undo()
    assert [p.name for p in directory.iterdir()] == ["token"]
    assert target.read_text() == "old"


def test_failed_cache_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = CredentialCache(str(tmp_path / "cache"))
    assert cache.unsafe_reason(create=True) is None
    _disk_full(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        cache.write(CacheEntry("k", 2_000_000_000, b"payload"))
    monkeypatch.undo()
    assert list((tmp_path / "cache").iterdir()) == []
