"""A web-identity token file: atomic writes, and a watcher that keeps it fresh.

AWS SDKs re-read ``AWS_WEB_IDENTITY_TOKEN_FILE`` at each refresh, so the file must always hold
a whole token: a temp file in the same directory, fsync, then rename over the old one. The
token is written bare, with no trailing newline, because botocore sends the file as it is.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable

from gcp2aws.boundedread import read_regular
from gcp2aws.delivery import schedule
from gcp2aws.errors import ConfigError, Gcp2AwsError, UsageError
from gcp2aws.idtoken.jwt import MAX_TOKEN_CHARS, decode_unverified
from gcp2aws.models import IdToken

ALLOWED_MODES = (0o600, 0o640, 0o644)


def write_atomic(path: str, data: bytes, mode: int = 0o600, *, force: bool = False) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old or the new file, whole.

    The temp file gets its final ``mode`` before any byte is written; the directory is
    fsynced after the rename so the new name survives a crash.
    """
    from gcp2aws import atomicfile

    try:
        path = atomicfile.check_target(path, force=force)
    except atomicfile.UnsafeTargetError as exc:
        raise UsageError(str(exc), hint=exc.hint) from exc
    try:
        atomicfile.replace(path, data, mode=mode)
    except OSError as exc:
        raise ConfigError(
            f"cannot write token file {path}: {exc.strerror or exc}",
            hint="Check that its directory exists and is writable, with free space",
        ) from exc


def read_token(path: str) -> IdToken | None:
    """The token currently in ``path``, or None if it is missing or not a JWT."""
    try:
        text = read_regular(path, MAX_TOKEN_CHARS + 2).decode("ascii")
        return decode_unverified(text, source=f"token file {path}")
    except (OSError, UnicodeDecodeError, Gcp2AwsError):
        return None


def _stderr(line: str) -> None:
    sys.stderr.write(f"gcp2aws: token: {line}\n")
    sys.stderr.flush()


class Watcher:
    """Writes fresh tokens to ``path`` until stopped, refreshing ahead of each token's exp.

    Between refreshes it blocks on ``stop`` (a ``threading.Event``) with a timeout: no polling,
    and a signal handler that sets the event wakes it at once. A failed refresh never touches
    the file; it is retried with jittered backoff, sooner when the file is about to expire.
    """

    def __init__(
        self,
        fetch: Callable[[], IdToken],
        path: str,
        *,
        mode: int = 0o600,
        lead: float = schedule.TOKEN_LEAD,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        wait: Callable[[float], bool] | None = None,
        report: Callable[[str], None] = _stderr,
        force: bool = False,
    ) -> None:
        if mode not in ALLOWED_MODES:
            raise UsageError(f"--mode {mode:04o} is not allowed", hint="Use 0600, 0640 or 0644")
        from gcp2aws import atomicfile

        try:  # before any token is fetched: a bad path fails at once
            atomicfile.check_target(path, force=force)
        except atomicfile.UnsafeTargetError as exc:
            raise UsageError(str(exc), hint=exc.hint) from exc
        self.force = force
        self.fetch = fetch
        self.path = path
        self.mode = mode
        self.lead = lead
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter only
        self.stop = stop or threading.Event()
        self._wait = wait or self.stop.wait
        self.report = report
        self.refreshes = 0
        self.failures = 0

    def refresh(self) -> IdToken:
        """Fetch one token and write it; raises and leaves the file alone on failure."""
        token = self.fetch()
        write_atomic(self.path, token.raw.encode("ascii"), self.mode, force=self.force)
        self.refreshes += 1
        return token

    def announce(self, token: IdToken, now: float, next_at: float | None) -> None:
        left = (token.expires_at or now) - now
        line = (
            f"wrote {self.path} (source {token.source}, azp={token.azp or '-'}, "
            f"expires in {left:.0f}s)"
        )
        if next_at is not None:
            line += f"; next refresh in {max(0.0, next_at - now):.0f}s"
        self.report(line)

    def once(self) -> bool:
        """Refresh only if the file's token is missing, unreadable or within ``lead`` of exp."""
        now = self.clock()
        current = read_token(self.path)
        exp = current.expires_at if current else None
        if not schedule.is_stale(exp, now, lead=self.lead):
            assert exp is not None  # noqa: S101 - is_stale is True for None
            self.report(f"{self.path} is fresh (expires in {exp - now:.0f}s); not refreshed")
            return False
        token = self.refresh()
        self.announce(token, now, None)
        return True

    def run(self, *, max_refreshes: int | None = None) -> int:
        """Keep the file fresh until ``stop`` is set (or ``max_refreshes``); returns 0.

        A configuration error before the first success is raised: retrying cannot fix it,
        and a sidecar that exits shows the problem where a silent retry loop would hide it.
        """
        current = read_token(self.path)
        current_exp = current.expires_at if current else None
        while not self.stop.is_set():
            now = self.clock()
            try:
                token = self.refresh()
            except Gcp2AwsError as exc:
                if self.refreshes == 0 and isinstance(exc, (UsageError, ConfigError)):
                    raise
                self.failures += 1
                until = current_exp - now if current_exp is not None else None
                delay = schedule.retry_delay(self.failures, rng=self.rng, until=until)
                state = (
                    f"the file stays valid for {until:.0f}s"
                    if until is not None and until > 0
                    else "the file holds no valid token"
                )
                self.report(f"refresh failed ({exc.one_line()}); {state}; retrying in {delay:.1f}s")
                if self._wait(delay):
                    break
                continue
            self.failures = 0
            current_exp = token.expires_at
            exp = float(current_exp if current_exp is not None else now)
            next_at = schedule.token_refresh_at(exp, now, lead=self.lead, rng=self.rng)
            self.announce(token, now, next_at)
            if max_refreshes is not None and self.refreshes >= max_refreshes:
                break
            if self._wait(max(0.0, next_at - self.clock())):
                break
        return 0
