"""On-disk credential cache: safe directory, checksummed entries, atomic 0600 writes, flock.

Reading is on the hot path of every AWS CLI command, so this module imports only what Python
loads at startup plus ``zlib``; writing and locking import the rest lazily.

Entry format (one file per key)::

    GCP2AWS-CACHE 1 <expires_epoch> <key_len> <payload_len> <crc32 hex>\\n<key><payload>

The checksum covers the header's numbers as well as the key and payload, so a flipped digit in
the expiry cannot make an old entry look fresh. The full key is stored and compared, so the
short file name only has to spread keys, not be collision-proof (that is why zlib's checksums
suffice and ``hashlib``, which costs ~2.5 ms of OpenSSL loading, stays off the hot path). A
truncated or corrupt file fails the length or checksum test and is treated as a miss, then
replaced.
"""

from __future__ import annotations

import os
import stat
import time
import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

MAGIC = b"GCP2AWS-CACHE"
FORMAT_VERSION = b"1"
MAX_ENTRY_BYTES = 1 << 16
STALE_TEMP_SECONDS = 3600
TEMP_PREFIX = ".tmp-"


def cache_key(parts: Mapping[str, str]) -> str:
    """Canonical key text: sorted ``name=value`` lines, so equal requests give equal keys."""
    lines = [f"{name}={parts[name]}" for name in sorted(parts)]
    return "gcp2aws-key-v1\n" + "\n".join(lines)


def file_name(key: str) -> str:
    """A 16-hex-digit file name from two independent checksums of the key."""
    data = key.encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


class CacheEntry:
    """One cached payload and when the credentials in it expire (epoch seconds)."""

    __slots__ = ("expires_at", "key", "payload")

    def __init__(self, key: str, expires_at: int, payload: bytes) -> None:
        self.key = key
        self.expires_at = expires_at
        self.payload = payload

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def key_value(self, name: str) -> str | None:
        """One ``name=value`` line of the key (e.g. ``opt.role_arn``), or None."""
        prefix = name + "="
        return next(
            (ln[len(prefix) :] for ln in self.key.splitlines() if ln.startswith(prefix)), None
        )


def encode_entry(entry: CacheEntry) -> bytes:
    key = entry.key.encode()
    body = key + entry.payload
    numbers = b"%s %s %d %d %d" % (
        MAGIC,
        FORMAT_VERSION,
        entry.expires_at,
        len(key),
        len(entry.payload),
    )
    return b"%s %08x\n%s" % (numbers, zlib.crc32(body, zlib.crc32(numbers)), body)


def decode_entry(data: bytes) -> CacheEntry | None:
    """Parse an entry; ``None`` for anything truncated, corrupt or of another format."""
    header, nl, body = data.partition(b"\n")
    fields = header.split(b" ")
    if not nl or len(fields) != 6 or fields[0] != MAGIC or fields[1] != FORMAT_VERSION:
        return None
    numbers, crc = fields[:5], fields[5]
    # At most 20 digits each: int() refuses more than 4300, and no real value needs more.
    if not all(f.isdigit() and len(f) <= 20 for f in numbers[2:]):
        return None
    expires, key_len, payload_len = numbers[2:]
    n_key, n_payload = int(key_len), int(payload_len)
    checksum = zlib.crc32(body, zlib.crc32(b" ".join(numbers)))
    if len(body) != n_key + n_payload or b"%08x" % checksum != crc:
        return None
    try:
        key = body[:n_key].decode()
    except UnicodeDecodeError:
        return None
    return CacheEntry(key, int(expires), body[n_key:])


def _unsafe_parent(directory: str) -> str | None:
    """Why an ancestor of ``directory`` belongs to another user, or None.

    That user controls every name in it. An ancestor that anyone may write to (Kubernetes
    creates emptyDir volumes 0777) is allowed: whoever swaps the cache directory there can
    only put in its place a symlink or a directory they own, and every operation refuses
    both, since it goes through a descriptor opened O_NOFOLLOW and checked with fstat.
    """
    path = os.path.dirname(os.path.abspath(directory))
    uid = os.getuid()
    while True:
        try:
            st = os.stat(path)
        except OSError:
            return None  # the directory checks already failed or will
        if st.st_uid not in (0, uid):
            return f"its parent {path} belongs to another user (uid {st.st_uid})"
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def _make_private_dirs(path: str) -> None:
    """``makedirs`` whose every new level is 0700 whatever the umask (makedirs applies its
    mode to the last level only, so a umask of 0 would leave world-writable parents)."""
    if os.path.isdir(path):
        return
    _make_private_dirs(os.path.dirname(path))
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)
    except FileExistsError:
        pass


def _is_entry_name(name: str, suffix: str) -> bool:
    """Only the names gcp2aws itself writes: 16 hex digits and the suffix."""
    stem = name[: -len(suffix)]
    return name.endswith(suffix) and len(stem) == 16 and all(c in "0123456789abcdef" for c in stem)


class CredentialCache:
    """A directory of cache entries owned by the current user and closed to everyone else.

    Every operation opens the directory once (``O_DIRECTORY | O_NOFOLLOW``), checks that
    descriptor (owner, mode), and works relative to it, so a directory swapped for another
    between the check and the use is never written into or read from.
    """

    def __init__(self, directory: str, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock

    # -- directory safety ---------------------------------------------------------------------
    def unsafe_reason(self, *, create: bool = False) -> str | None:
        """Why this directory must not be used, or ``None`` when it is safe.

        Refused: a symlink (someone could point it at a directory they read), a directory owned
        by another user, or one that others can write to (they could plant or swap entries).
        With ``create``, a missing directory is made with mode 0700.
        """
        try:
            st = os.lstat(self.directory)
        except FileNotFoundError:
            if not create:
                return "it does not exist yet"
            try:
                _make_private_dirs(os.path.dirname(os.path.abspath(self.directory)))
                os.mkdir(self.directory, 0o700)
                st = os.lstat(self.directory)
            except FileExistsError:
                st = os.lstat(self.directory)
            except OSError as exc:
                return f"it cannot be created ({exc.strerror})"
        except OSError as exc:
            return f"it cannot be read ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return "it is a symlink"
        if not stat.S_ISDIR(st.st_mode):
            return "it is not a directory"
        if st.st_uid != os.getuid():
            return f"it is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
        if st.st_mode & 0o022:
            return f"it is group- or world-writable (mode {stat.S_IMODE(st.st_mode):04o})"
        return _unsafe_parent(self.directory)

    def path_for(self, key: str) -> str:
        return os.path.join(self.directory, file_name(key) + ".cred")

    def _open_dir(self) -> int | None:
        """A descriptor for the directory if it is still ours and closed to others, else None."""
        try:
            fd = os.open(
                self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        except OSError:
            return None
        try:
            st = os.fstat(fd)
        except OSError:
            st = None
        if st is None or st.st_uid != os.getuid() or st.st_mode & 0o022:
            os.close(fd)
            return None
        return fd

    # -- reading (hot path) -------------------------------------------------------------------
    def read(self, key: str) -> CacheEntry | None:
        """The entry for ``key``, or ``None`` when missing, unsafe, corrupt or for another key."""
        dir_fd = self._open_dir()
        if dir_fd is None:
            return None
        try:
            entry = _read_at(dir_fd, file_name(key) + ".cred")
        finally:
            os.close(dir_fd)
        if entry is None or entry.key != key:
            return None
        return entry

    def entries(self) -> list[tuple[str, CacheEntry | None]]:
        """Every entry file's name and entry (None: unsafe or corrupt), checked as ``read`` does.

        Empty when the directory is missing or unsafe: nothing in it can be trusted. Only
        names gcp2aws writes are looked at; a FIFO or a directory with such a name is None.
        """
        if self.unsafe_reason() is not None:
            return []
        dir_fd = self._open_dir()
        if dir_fd is None:
            return []
        try:
            names = sorted(n for n in os.listdir(dir_fd) if _is_entry_name(n, ".cred"))
            return [(name, _read_at(dir_fd, name)) for name in names]
        except OSError:
            return []
        finally:
            os.close(dir_fd)

    # -- writing ------------------------------------------------------------------------------
    def _checked_dir(self) -> int:
        dir_fd = self._open_dir()
        if dir_fd is None:
            import errno

            raise PermissionError(errno.EPERM, "the cache directory is not safe", self.directory)
        return dir_fd

    def write(self, entry: CacheEntry) -> None:
        """Atomically replace the entry: 0600 temp file, fsync, rename, fsync the directory.

        Raises ``OSError`` (read-only or full filesystem, or a directory that stopped being
        safe); the caller decides it is only a warning. A reader sees the old entry or the
        new one, never a mix.
        """
        from gcp2aws import atomicfile

        dir_fd = self._checked_dir()
        try:
            self._sweep_stale_temps(dir_fd)
            name = file_name(entry.key) + ".cred"
            atomicfile.replace_at(dir_fd, name, encode_entry(entry), prefix=TEMP_PREFIX)
        finally:
            os.close(dir_fd)

    # -- refresh failures (so an outage is not retried by every waiting process) ---------------
    def _failure_path(self, key: str) -> str:
        return os.path.join(self.directory, file_name(key) + ".fail")

    def mark_failure(self, key: str, when: float) -> None:
        """Record that a refresh for ``key`` failed at epoch ``when`` (best effort)."""
        import contextlib

        from gcp2aws import atomicfile

        # Without the marker, processes retry in turn: slower, never wrong.
        with contextlib.suppress(OSError):
            dir_fd = self._checked_dir()
            try:
                name = file_name(key) + ".fail"
                atomicfile.replace_at(dir_fd, name, b"%d" % int(when), prefix=TEMP_PREFIX)
            finally:
                os.close(dir_fd)

    def last_failure(self, key: str) -> float | None:
        """When the last recorded refresh for ``key`` failed, or None.

        The marker gets the same checks as an entry: a regular file of ours, closed to others.
        """
        dir_fd = self._open_dir()
        if dir_fd is None:
            return None
        try:
            text = _read_private(dir_fd, file_name(key) + ".fail", 32)
        finally:
            os.close(dir_fd)
        if text is None or not (text.isdigit() and len(text) < 20):
            return None
        return float(text)

    def clear_failure(self, key: str) -> None:
        import contextlib

        dir_fd = self._open_dir()
        if dir_fd is None:
            return
        with contextlib.suppress(OSError):  # usually: there was no failure to clear
            os.unlink(file_name(key) + ".fail", dir_fd=dir_fd)
        os.close(dir_fd)

    def _sweep_stale_temps(self, dir_fd: int) -> None:
        """Remove temp files left by a writer that was killed before its rename."""
        now = self.clock()
        try:
            names = os.listdir(dir_fd)
        except OSError:
            return
        for name in names:
            if not name.startswith(TEMP_PREFIX):
                continue
            try:
                st = os.lstat(name, dir_fd=dir_fd)
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_TEMP_SECONDS:
                    os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass

    def clear(self) -> int:
        """Delete every entry and failure marker; returns how many entries were removed.

        Only regular files with the names gcp2aws writes, in a directory that is still safe
        (a symlinked cache directory is not followed). Lock files stay: another process may
        hold one (see ``FileLock``).

        Raises:
            PermissionError: the directory is unsafe (``unsafe_reason`` says why).
        """
        if not os.path.lexists(self.directory):
            return 0
        dir_fd = self._checked_dir()
        removed = 0
        try:
            for name in os.listdir(dir_fd):
                if not (_is_entry_name(name, ".cred") or _is_entry_name(name, ".fail")):
                    continue
                try:
                    if not stat.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode):
                        continue
                    os.unlink(name, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue  # another process cleared it first
                removed += name.endswith(".cred")
        finally:
            os.close(dir_fd)
        return removed

    # -- cross-process single flight ----------------------------------------------------------
    def lock(self, key: str, timeout: float) -> FileLock:
        return FileLock(os.path.join(self.directory, file_name(key) + ".lock"), timeout)


def _read_private(dir_fd: int, name: str, limit: int) -> bytes | None:
    """The bytes of ``name`` if it is a regular file of ours that others cannot touch."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None  # missing, or a symlink planted in its place (ELOOP)
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)  # a FIFO opened O_NONBLOCK is refused here
            or st.st_uid != os.getuid()
            or st.st_mode & 0o077
            or st.st_size > limit
        ):
            return None
        return os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_at(dir_fd: int, name: str) -> CacheEntry | None:
    data = _read_private(dir_fd, name, MAX_ENTRY_BYTES)
    return None if data is None else decode_entry(data)


class FileLock:
    """An exclusive ``flock`` with a bounded wait.

    The kernel drops the lock when its holder dies, even by SIGKILL, so a crashed process never
    wedges the others. Lock files are never deleted: unlinking a flock file lets two processes
    lock two different inodes under one name.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.acquired = False
        self.error: str | None = None  # why the lock file could not be opened
        self._fd = -1

    def __enter__(self) -> FileLock:
        import fcntl

        try:
            self._fd = os.open(
                self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            # A read-only or full cache directory must not cost the user the credentials:
            # report not acquired, and the caller goes ahead without single flight.
            self.error = exc.strerror or type(exc).__name__
            return self
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.acquired = True
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return self  # not acquired: the caller goes ahead without the lock
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1
