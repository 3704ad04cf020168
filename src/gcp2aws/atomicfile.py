"""Replace a file atomically: a private temp file beside it, fsync, rename, fsync the directory.

The one implementation behind every file gcp2aws writes (cache entries, token files, the
AWS config file, serve's bearer-token and env files), after botocore's JSONFileCache: a reader
sees the old content or the new, never a mix, and the content is never visible with a wider
mode than asked for, not even while it is being written.
"""

from __future__ import annotations

import contextlib
import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


class UnsafeTargetError(Exception):
    """The path names something a writer must not replace; the message says what and why."""

    def __init__(self, message: str, *, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def kind_of(mode: int) -> str | None:
    """ "a FIFO", "a directory"...: what a non-regular file is; None for a regular file."""
    return next((name for test, name in _KINDS if test(mode)), None)


def check_target(
    path: str, *, follow_symlink: bool = False, force: bool = False, euid: int | None = None
) -> str:
    """The path to write for ``path``, after checking what is there now (``lstat``).

    Every writer calls this first, so none of them replaces ``/dev/null``, a FIFO or a
    directory with a regular file. A symlink is refused unless ``follow_symlink`` (``init``:
    dotfile managers link ``~/.aws/config``), and then its real target is returned. Running as
    root, a symlink or a file owned by another user is refused too, unless ``force``: root
    following a user's link is how a 0600 root file gets a profile appended to it.

    Raises:
        UnsafeTargetError: with the real path in its message.
    """
    path = os.path.abspath(path)
    euid = os.geteuid() if euid is None else euid
    try:
        link = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):  # the write itself will say why
        return path
    real = path
    if stat.S_ISLNK(link.st_mode):
        real = os.path.realpath(path)
        if euid == 0 and not force:
            raise UnsafeTargetError(
                f"{path} is a symlink to {real}; running as root, gcp2aws does not follow it",
                hint=f"Pass --force to write {real}, or give that path itself",
            )
        if not follow_symlink and not force:
            raise UnsafeTargetError(
                f"{path} is a symlink to {real}; gcp2aws replaces only regular files",
                hint="Give the real path, or remove the symlink",
            )
    try:
        target = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return real
    kind = kind_of(target.st_mode)
    if kind is not None:
        raise UnsafeTargetError(
            f"{real} is {kind}, not a regular file; gcp2aws will not replace it",
            hint="Give the path of a regular file (or one that does not exist yet)",
        )
    if euid == 0 and target.st_uid != 0 and not force:
        raise UnsafeTargetError(
            f"{real} belongs to uid {target.st_uid}; running as root, gcp2aws does not "
            "replace another user's file",
            hint="Run it as that user, or pass --force",
        )
    return real


def replace(path: str, data: bytes, *, mode: int = 0o600, prefix: str | None = None) -> None:
    """Atomically make ``path`` hold ``data`` with permission bits ``mode``.

    The temp file is created 0600 beside ``path``; ``mode`` is applied with ``fchmod`` before
    the first byte is written. Raises ``OSError`` (full disk, read-only filesystem...) after
    removing the temp file; callers turn it into their own error or warning.
    """
    directory = os.path.dirname(os.path.abspath(path))
    name = prefix if prefix is not None else f".{os.path.basename(path)}."
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        replace_at(dir_fd, os.path.basename(path), data, mode=mode, prefix=name)
    finally:
        os.close(dir_fd)


def _open_temp(dir_fd: int, prefix: str) -> tuple[int, str]:
    """A new 0600 file in ``dir_fd`` that nobody else can have opened (O_EXCL, no symlink)."""
    while True:
        name = f"{prefix}{os.urandom(8).hex()}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            return os.open(name, flags, 0o600, dir_fd=dir_fd), name
        except FileExistsError:
            continue


def replace_at(dir_fd: int, name: str, data: bytes, *, mode: int = 0o600, prefix: str) -> None:
    """``replace``, with every step relative to an open directory (``openat``/``renameat``).

    The cache checks its directory through ``dir_fd``, so swapping the directory for a
    symlink afterwards changes nothing about where this write lands.
    """
    fd, tmp = _open_temp(dir_fd, prefix)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    with contextlib.suppress(OSError):  # durable rename; a no-op where the filesystem refuses
        os.fsync(dir_fd)


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable; a no-op where the filesystem refuses."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
