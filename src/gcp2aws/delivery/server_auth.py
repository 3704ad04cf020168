"""Security checks of the credentials endpoint: bind address, bearer token, Host header, files."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets

from gcp2aws.errors import ConfigError, UsageError

log = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits
LOOPBACK_NAMES = ("localhost",)


def new_token() -> str:
    """A random 256-bit bearer token, hex (safe in headers, env files and URLs unquoted)."""
    return secrets.token_hex(TOKEN_BYTES)


def token_matches(expected: bytes, presented: str | None) -> bool:
    """Constant-time comparison: the time taken must not tell an attacker a matching prefix."""
    if presented is None:
        return False
    try:
        candidate = presented.encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, candidate)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; names other than localhost are not resolved."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_address(host: str, *, allow_non_loopback: bool) -> str:
    """The address to bind; anything but loopback needs the explicit opt-in, and a warning."""
    if host.lower() in LOOPBACK_NAMES:
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError as exc:
        raise UsageError(
            f"invalid bind address {host!r}",
            hint="Pass an IP address such as 127.0.0.1 or ::1",
        ) from exc
    if not address.is_loopback:
        if not allow_non_loopback:
            raise UsageError(
                f"refusing to serve credentials on non-loopback address {address}",
                hint="Anyone who can reach it and learns the token gets the credentials; pass "
                "--allow-non-loopback if that is really intended",
            )
        log.warning(
            "serving credentials on non-loopback address %s: any host that can reach it and "
            "holds the token gets AWS credentials",
            address,
        )
    return str(address)


def allowed_hosts(bind_host: str, port: int) -> frozenset[str]:
    """Host header values accepted: loopback names with and without the port.

    A browser tricked by DNS rebinding sends the attacker's name in Host, so anything else is
    refused. When a non-loopback bind was allowed explicitly, its own address is accepted too.
    """
    names = {"127.0.0.1", "localhost", "[::1]"}
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:
        address = None
    if address is not None and not address.is_unspecified:
        names.add(f"[{address}]" if address.version == 6 else str(address))
    return frozenset({*names, *(f"{name}:{port}" for name in names)})


def check_private_file(path: str, *, force: bool = False) -> str:
    """The real path ``write_private_file`` will write; UsageError for a path it must not."""
    from gcp2aws import atomicfile

    try:
        return atomicfile.check_target(os.path.abspath(os.path.expanduser(path)), force=force)
    except atomicfile.UnsafeTargetError as exc:
        raise UsageError(str(exc), hint=exc.hint) from exc


def write_private_file(path: str, text: str, *, force: bool = False, mode: int = 0o600) -> None:
    """Atomically replace ``path`` with ``text``: a 0600 temp file, fsync, rename.

    A reader (an SDK re-reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) sees the old content
    or the new, never a partial token; the file is never readable by others, even briefly,
    unless ``mode`` (applied before the rename) says so.
    """
    from gcp2aws import atomicfile

    path = check_private_file(path, force=force)
    try:
        atomicfile.replace(path, text.encode("utf-8"), mode=mode, prefix=".gcp2aws-")
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="Check that its directory exists and is writable",
        ) from exc
