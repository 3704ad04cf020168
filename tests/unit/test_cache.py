"""Unit tests for gcp2aws.cache: entry format, safe directories, file modes, atomic writes, flock.

The end-to-end cache behaviour (zero network calls on a hit, unsafe directories refused by the
CLI, corrupt entries replaced) is in tests/functional/cli/test_credentials.py; 32 concurrent cold
processes are in tests/functional/e2e/test_concurrency.py.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gcp2aws import cache as cache_mod
from gcp2aws.cache import CacheEntry, CredentialCache, cache_key, decode_entry, encode_entry

KEY = cache_key({"opt.role_arn": "arn:aws:iam::123456789012:role/r", "env.AWS_REGION": "x"})
PAYLOAD = b'{"Version": 1, "AccessKeyId": "A"}\n'

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")


def nobody_uid() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def cache(tmp_path: Path) -> CredentialCache:
    c = CredentialCache(str(tmp_path / "cache"))
    assert c.unsafe_reason(create=True) is None
    return c


# -- key and entry format -----------------------------------------------------------------------
def test_cache_key_is_order_independent() -> None:
    a = cache_key({"b": "2", "a": "1"})
    assert a == cache_key({"a": "1", "b": "2"})
    assert a == "gcp2aws-key-v1\na=1\nb=2"
    assert a != cache_key({"a": "1", "b": "3"})


def test_file_name_is_16_hex_digits() -> None:
    name = cache_mod.file_name(KEY)
    assert len(name) == 16
    int(name, 16)
    assert name != cache_mod.file_name(KEY + "x")


def test_entry_round_trip() -> None:
    entry = decode_entry(encode_entry(CacheEntry(KEY, 2_000_000_000, PAYLOAD)))
    assert entry is not None
    assert (entry.key, entry.expires_at, entry.payload) == (KEY, 2_000_000_000, PAYLOAD)
    assert entry.remaining(1_999_999_000) == 1000


def test_decode_rejects_damage() -> None:
    data = encode_entry(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    header, _, body = data.partition(b"\n")
    flipped = bytearray(data)
    flipped[-3] ^= 0x01
    damaged = [
        b"",
        b"garbage",
        data[:-1],  # truncated
        data + b"x",  # trailing bytes
        bytes(flipped),  # checksum mismatch
        header.replace(b"GCP2AWS-CACHE", b"OTHER-CACHE") + b"\n" + body,
        header.replace(b"GCP2AWS-CACHE 1", b"GCP2AWS-CACHE 2") + b"\n" + body,
        header.replace(b"2000000000", b"20000x0000") + b"\n" + body,
        header,  # no newline, no body
    ]
    for blob in damaged:
        assert decode_entry(blob) is None, blob


# -- directory safety ---------------------------------------------------------------------------
def test_create_makes_private_directories(tmp_path: Path) -> None:
    target = tmp_path / "xdg" / "gcp2aws"
    c = CredentialCache(str(target))
    assert c.unsafe_reason() == "it does not exist yet"
    assert not target.exists()
    assert c.unsafe_reason(create=True) is None
    assert mode(target) == 0o700
    assert mode(target.parent) == 0o700


def test_permissive_read_bits_are_fine(tmp_path: Path) -> None:
    target = tmp_path / "c"
    target.mkdir(mode=0o755)
    os.chmod(target, 0o755)  # noqa: S103 - readable by others is allowed
    assert CredentialCache(str(target)).unsafe_reason() is None


@pytest.mark.parametrize(("bits", "what"), [(0o770, "0770"), (0o707, "0707"), (0o777, "0777")])
def test_writable_by_others_is_unsafe(tmp_path: Path, bits: int, what: str) -> None:
    target = tmp_path / "c"
    target.mkdir()
    os.chmod(target, bits)
    reason = CredentialCache(str(target)).unsafe_reason(create=True)
    assert reason is not None
    assert "group- or world-writable" in reason
    assert what in reason


def test_symlink_is_unsafe(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert CredentialCache(str(link)).unsafe_reason(create=True) == "it is a symlink"


def test_file_is_unsafe(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert CredentialCache(str(target)).unsafe_reason() == "it is not a directory"


@needs_root
def test_other_owner_is_unsafe(tmp_path: Path) -> None:
    target = tmp_path / "c"
    target.mkdir(mode=0o700)
    os.chown(target, nobody_uid(), -1)
    reason = CredentialCache(str(target)).unsafe_reason(create=True)
    assert reason is not None
    assert f"owned by uid {nobody_uid()}" in reason


def test_uncreatable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    reason = CredentialCache(str(blocker / "c")).unsafe_reason(create=True)
    assert reason is not None
    assert reason.startswith("it cannot be")


# -- reading and writing ------------------------------------------------------------------------
def test_write_then_read(cache: CredentialCache) -> None:
    assert cache.read(KEY) is None
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    path = cache.path_for(KEY)
    assert mode(path) == 0o600
    entry = cache.read(KEY)
    assert entry is not None
    assert entry.payload == PAYLOAD
    # No temp file is left behind.
    assert sorted(os.listdir(cache.directory)) == [os.path.basename(path)]


def test_write_replaces_atomically(cache: CredentialCache) -> None:
    cache.write(CacheEntry(KEY, 1, b"old"))
    inode = os.stat(cache.path_for(KEY)).st_ino
    cache.write(CacheEntry(KEY, 2, b"new"))
    entry = cache.read(KEY)
    assert entry is not None
    assert entry.payload == b"new"
    assert os.stat(cache.path_for(KEY)).st_ino != inode  # renamed into place, not rewritten


def test_read_ignores_an_entry_for_another_key(cache: CredentialCache) -> None:
    other = cache_key({"opt.role_arn": "arn:aws:iam::123456789012:role/other"})
    with open(cache.path_for(KEY), "wb") as fh:
        fh.write(encode_entry(CacheEntry(other, 2_000_000_000, PAYLOAD)))
    os.chmod(cache.path_for(KEY), 0o600)
    assert cache.read(KEY) is None


def test_read_ignores_corrupt_files(cache: CredentialCache) -> None:
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    path = cache.path_for(KEY)
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - 5)
    assert cache.read(KEY) is None
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))  # replaced by the next write
    assert cache.read(KEY) is not None


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o644])
def test_read_refuses_files_others_can_read(cache: CredentialCache, bits: int) -> None:
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    os.chmod(cache.path_for(KEY), bits)
    assert cache.read(KEY) is None


def test_read_refuses_a_symlinked_entry(cache: CredentialCache, tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    planted.write_bytes(encode_entry(CacheEntry(KEY, 2_000_000_000, PAYLOAD)))
    os.chmod(planted, 0o600)
    os.symlink(planted, cache.path_for(KEY))
    assert cache.read(KEY) is None


def test_read_refuses_oversized_files(cache: CredentialCache) -> None:
    big = b"x" * (cache_mod.MAX_ENTRY_BYTES + 1)
    cache.write(CacheEntry(KEY, 2_000_000_000, big))
    assert cache.read(KEY) is None


@needs_root
def test_read_refuses_files_of_another_owner(cache: CredentialCache) -> None:
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    os.chown(cache.path_for(KEY), nobody_uid(), -1)
    assert cache.read(KEY) is None


def test_stale_temp_files_are_swept(cache: CredentialCache) -> None:
    old = Path(cache.directory) / ".tmp-old.cred"
    young = Path(cache.directory) / ".tmp-young.cred"
    old.write_text("")
    young.write_text("")
    long_ago = time.time() - cache_mod.STALE_TEMP_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    assert not old.exists()
    assert young.exists()  # may belong to a writer that is still running


def test_clear(cache: CredentialCache) -> None:
    cache.write(CacheEntry(KEY, 2_000_000_000, PAYLOAD))
    cache.write(CacheEntry(KEY + "2", 2_000_000_000, PAYLOAD))
    with cache.lock(KEY, 1):
        pass
    cache.mark_failure(KEY, 1_000)
    assert cache.clear() == 2
    # The lock file stays: unlinking it while another process holds it would let a third
    # lock a new inode under the same name (two refreshes at once).
    assert os.listdir(cache.directory) == [os.path.basename(cache.lock(KEY, 1).path)]
    assert CredentialCache(cache.directory + "-missing").clear() == 0


# -- locking ------------------------------------------------------------------------------------
def test_lock_is_exclusive_and_bounded(cache: CredentialCache) -> None:
    with cache.lock(KEY, 1) as first:
        assert first.acquired
        assert mode(first.path) == 0o600
        with cache.lock(KEY, 0.1) as second:
            assert not second.acquired  # gave up waiting; the caller proceeds without it
    with cache.lock(KEY, 0.1) as third:
        assert third.acquired
    assert os.path.exists(first.path)  # lock files stay: unlinking them breaks flock


def test_lock_is_released_when_the_holder_is_killed(cache: CredentialCache) -> None:
    lock_path = cache.lock(KEY, 1).path
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({lock_path!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "sys.stdout.write('locked\\n'); sys.stdout.flush()\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with cache.lock(KEY, 0.1) as busy:
            assert not busy.acquired
        holder.kill()
        holder.wait(10)
        with cache.lock(KEY, 2) as free:
            assert free.acquired
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_entries_go_through_the_same_checks_as_a_read(
    cache: CredentialCache, tmp_path: Path
) -> None:
    good = CacheEntry(KEY, 2_000_000_000, PAYLOAD)
    cache.write(good)
    other = CacheEntry(KEY + "2", 2_000_000_000, PAYLOAD)
    cache.write(other)
    os.chmod(cache.path_for(other.key), 0o644)  # readable by others: refused, as by read()
    outside = tmp_path / "planted.cred"
    outside.write_bytes(cache_mod.encode_entry(CacheEntry("k", 2_000_000_000, b"x")))
    os.chmod(outside, 0o600)
    os.symlink(outside, os.path.join(cache.directory, "0000000000000000.cred"))
    listed = dict(cache.entries())
    assert set(listed) == {
        "0000000000000000.cred",
        os.path.basename(cache.path_for(KEY)),
        os.path.basename(cache.path_for(other.key)),
    }
    assert listed["0000000000000000.cred"] is None  # a symlink is never followed
    assert listed[os.path.basename(cache.path_for(other.key))] is None
    entry = listed[os.path.basename(cache.path_for(KEY))]
    assert entry is not None
    assert entry.key_value("opt.role_arn") == "arn:aws:iam::123456789012:role/r"
    assert entry.key_value("opt.missing") is None
    os.chmod(cache.directory, 0o770)  # noqa: S103 - the unsafe mode under test
    assert cache.entries() == []  # an unsafe directory is not listed at all
    os.chmod(cache.directory, 0o700)
    assert CredentialCache(cache.directory + "-missing").entries() == []


# -- round 2: one descriptor, checked markers, clear and list that touch only their own files --
def test_a_directory_swapped_for_a_symlink_after_the_check_is_never_written(
    cache: CredentialCache, tmp_path: Path
) -> None:
    """The check-then-use race: everything goes through one descriptor, opened O_NOFOLLOW."""
    assert cache.unsafe_reason() is None
    attacker = tmp_path / "attacker"
    attacker.mkdir(mode=0o700)
    os.rename(cache.directory, tmp_path / "moved")
    os.symlink(attacker, cache.directory)
    with pytest.raises(PermissionError):
        cache.write(CacheEntry(KEY, int(time.time()) + 3600, PAYLOAD))
    assert list(attacker.iterdir()) == []
    assert cache.read(KEY) is None


def test_a_fifo_named_like_an_entry_neither_blocks_read_nor_list(cache: CredentialCache) -> None:
    name = cache_mod.file_name(KEY) + ".cred"
    os.mkfifo(os.path.join(cache.directory, name), 0o600)
    assert cache.read(KEY) is None  # O_NONBLOCK, then fstat says FIFO
    assert cache.entries() == [(name, None)]


@needs_root
def test_a_failure_marker_of_another_user_is_ignored(cache: CredentialCache) -> None:
    cache.mark_failure(KEY, 1_000_000)
    assert cache.last_failure(KEY) == 1_000_000
    marker = os.path.join(cache.directory, cache_mod.file_name(KEY) + ".fail")
    os.chown(marker, nobody_uid(), -1)
    assert cache.last_failure(KEY) is None


def test_a_failure_marker_others_can_read_is_ignored(cache: CredentialCache) -> None:
    cache.mark_failure(KEY, 1_000_000)
    os.chmod(os.path.join(cache.directory, cache_mod.file_name(KEY) + ".fail"), 0o644)
    assert cache.last_failure(KEY) is None


def test_clear_touches_only_regular_files_with_its_own_names(cache: CredentialCache) -> None:
    cache.write(CacheEntry(KEY, int(time.time()) + 3600, PAYLOAD))
    cache.mark_failure(KEY, 1)
    directory = Path(cache.directory)
    (directory / "abcdefabcdefabcd.lock").mkdir()  # crashed the old clear (IsADirectoryError)
    (directory / "0123456789abcdef.cred").mkdir()
    (directory / "notes.cred").write_text("not ours")
    lock = directory / (cache_mod.file_name(KEY) + ".lock")
    lock.write_text("")
    assert cache.clear() == 1
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["abcdefabcdefabcd.lock", "0123456789abcdef.cred", "notes.cred", lock.name]
    )


def test_clear_does_not_follow_a_symlinked_cache_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    victim = elsewhere / (cache_mod.file_name(KEY) + ".cred")
    victim.write_bytes(b"someone else's file")
    os.symlink(elsewhere, tmp_path / "cache")
    with pytest.raises(PermissionError):
        CredentialCache(str(tmp_path / "cache")).clear()
    assert victim.exists()


@needs_root
def test_a_parent_that_belongs_to_another_user_is_unsafe(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, nobody_uid(), -1)
    reason = CredentialCache(str(theirs / "gcp2aws")).unsafe_reason(create=True)
    assert reason == f"its parent {theirs} belongs to another user (uid {nobody_uid()})"


def test_an_open_parent_is_allowed_because_the_descriptor_checks_hold(tmp_path: Path) -> None:
    """A Kubernetes emptyDir is 0777; a swap there can only plant what every use refuses."""
    shared = tmp_path / "emptydir"
    shared.mkdir()
    shared.chmod(0o777)
    cache = CredentialCache(str(shared / "gcp2aws"))
    assert cache.unsafe_reason(create=True) is None
    os.rename(cache.directory, shared / "moved")
    planted = shared / "gcp2aws"
    planted.mkdir(mode=0o700)
    if os.getuid() == 0:
        os.chown(planted, nobody_uid(), -1)  # the attacker's own directory
        assert cache.read(KEY) is None
        with pytest.raises(PermissionError):
            cache.write(CacheEntry(KEY, int(time.time()) + 3600, PAYLOAD))
        assert list(planted.iterdir()) == []


def test_creating_the_directory_under_umask_0_leaves_no_open_parent(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        cache = CredentialCache(str(tmp_path / "a" / "b" / "gcp2aws"))
        assert cache.unsafe_reason(create=True) is None
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700
