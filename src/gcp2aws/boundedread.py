"""Read a file gcp2aws was pointed at: a regular file only, never blocking, never unbounded.

``--token-file``, ``--session-policy @FILE``, the AWS config file and Google credentials JSON
are paths a user (or an attacker's environment) chooses. A FIFO would block ``open()``
forever, ``/dev/zero`` would grow without end, and a huge file would be read whole before any
size check. So every such read opens with ``O_NONBLOCK``, requires ``fstat`` to say "regular
file", and reads at most ``limit + 1`` bytes.
"""

from __future__ import annotations

import errno
import os
import stat

from gcp2aws.atomicfile import kind_of

CONFIG_LIMIT = 1 << 20  # AWS config/credentials files, Google credentials JSON, trust policies
POLICY_LIMIT = 1 << 16  # a session policy: STS takes at most 2,048 packed characters


class UnreadableFileError(OSError):
    """Not a regular file, or larger than the reader allows; ``strerror`` says which.

    An ``OSError``, so every reader's existing "cannot read PATH: REASON" handling applies.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(errno.EINVAL, reason, path)


def is_null_device(info: os.stat_result) -> bool:
    """Whether ``info`` is /dev/null's: a device that reads as empty at once."""
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == null.st_rdev


def read_regular(path: str, limit: int) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes.

    ``/dev/null`` reads as empty, as it always has.

    Raises:
        FileNotFoundError, PermissionError, OSError: as ``open`` does.
        UnreadableFileError: a FIFO, device, socket or directory, or more than ``limit`` bytes.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if is_null_device(info):  # AWS_CONFIG_FILE=/dev/null is the usual "no config"
            return b""
        kind = kind_of(info.st_mode)
        if kind is not None:
            raise UnreadableFileError(path, f"it is {kind}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise UnreadableFileError(path, f"it is larger than {limit:,} bytes")
    return b"".join(chunks)
