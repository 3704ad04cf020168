"""Read and atomically rewrite the AWS shared config file, keeping a backup and its mode."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from gcp2aws import atomicfile, paths
from gcp2aws.boundedread import CONFIG_LIMIT, UnreadableFileError, read_regular
from gcp2aws.errors import ConfigError

__all__ = ["backup_path", "config_path", "read_config", "write_config"]

_WRITE_HINT = "Fix its permissions or pass --print to see the lines to add"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``AWS_CONFIG_FILE`` (variables and ``~`` expanded), else ``~/.aws/config``."""
    return Path(paths.aws_config_file(os.environ if environ is None else environ))


def backup_path(path: Path) -> Path:
    """Where :func:`write_config` keeps the previous content of ``path``."""
    return path.with_name(path.name + ".bak")


def read_config(path: Path) -> str:
    """The file's text ("" when it does not exist), with every byte kept for a rewrite."""
    try:
        data = read_regular(str(path), CONFIG_LIMIT)
    except FileNotFoundError:
        return ""
    except UnreadableFileError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}",
            hint="Point AWS_CONFIG_FILE (or --profile's file) at a regular file",
            path=str(path),
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {_reason(exc)}", hint="Fix its permissions", path=str(path)
        ) from exc
    # surrogateescape: bytes that are not UTF-8 survive the round trip unchanged.
    return data.decode("utf-8", "surrogateescape")


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or type(exc).__name__


def _atomic_write(target: Path, data: bytes, mode: int) -> None:
    atomicfile.replace(str(target), data, mode=mode)


def write_config(
    path: Path, new_text: str, *, backup: bool = True, force: bool = False
) -> Path | None:
    """Atomically replace the file's content with ``new_text``; None when nothing changed.

    Returns the path of the file actually written. The previous content (if any) is first
    copied to ``path.bak`` with the same mode. A missing directory is created 0700 and a new
    file is 0600; an existing file keeps its mode. A read-only file is never replaced.

    Raises:
        ConfigError: the file or its directory cannot be written; the original is untouched.
    """
    # Write through a symlink to its target, so dotfile managers that link ~/.aws/config
    # into a repository keep working (not as root: see check_target); the backup stays next
    # to the name the user knows.
    try:
        target = Path(atomicfile.check_target(str(path), follow_symlink=True, force=force))
    except atomicfile.UnsafeTargetError as exc:
        raise ConfigError(str(exc), hint=exc.hint, path=str(path)) from exc
    data = new_text.encode("utf-8", "surrogateescape")
    try:
        try:
            old: bytes | None = target.read_bytes()
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            old, mode = None, 0o600
        if old == data:
            return None
        if old is not None and not (mode & stat.S_IWUSR and os.access(target, os.W_OK)):
            # os.replace would succeed in a writable directory; a read-only file is a choice
            # the user made (checked on the mode bits too, since root passes os.access).
            raise PermissionError(errno.EACCES, "permission denied", str(target))
        if not target.parent.is_dir():
            target.parent.mkdir(mode=0o700, parents=True)
            os.chmod(target.parent, 0o700)  # mkdir's mode is filtered by the umask
        if backup and old is not None:
            _atomic_write(backup_path(path), old, mode)
        _atomic_write(target, data, mode)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {_reason(exc)}", hint=_WRITE_HINT, path=str(path)
        ) from exc
    return target
