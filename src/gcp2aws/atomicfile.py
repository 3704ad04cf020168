"""Replace a file atomically: a private temp file beside it, fsync, rename, fsync the directory.

The one implementation behind every file gcp2aws writes (cache entries, token files, the
AWS config file, serve's bearer-token and env files), after botocore's JSONFileCache: a reader
sees the old content or the new, never a mix, and the content is never visible with a wider
mode than asked for, not even while it is being written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


def replace(path: str, data: bytes, *, mode: int = 0o600, prefix: str | None = None) -> None:
    """Atomically make ``path`` hold ``data`` with permission bits ``mode``.

    ``mkstemp`` creates the temp file 0600; ``mode`` is applied with ``fchmod`` before the
    first byte is written. Raises ``OSError`` (full disk, read-only filesystem...) after
    removing the temp file; callers turn it into their own error or warning.
    """
    directory = os.path.dirname(os.path.abspath(path))
    name = prefix if prefix is not None else f".{os.path.basename(path)}."
    fd, tmp = tempfile.mkstemp(prefix=name, suffix=".tmp", dir=directory)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable; a no-op where the filesystem refuses."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
