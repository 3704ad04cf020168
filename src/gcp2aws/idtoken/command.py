"""The token-command source: run a command (never through a shell); its stdout is the token."""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import time
from typing import IO, TYPE_CHECKING

from gcp2aws.errors import TokenUnavailableError, UsageError
from gcp2aws.idtoken.base import TokenSource, configured
from gcp2aws.idtoken.jwt import decode_bytes
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline
from gcp2aws.sanitize import for_terminal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gcp2aws.settings import Settings

NAME = "command"
MAX_SECONDS = 30.0
STDERR_EXCERPT = 160
MAX_STDOUT = 1 << 20  # a token is under 8 KiB; more than this is not a token
STDERR_TAIL = 8 << 10  # only the last line is ever shown


class _Overrun(Exception):
    """The command ran past its time, or printed more than MAX_STDOUT."""

    def __init__(self, why: str) -> None:
        self.why = why


def _collect(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes]:
    """stdout (at most MAX_STDOUT) and the tail of stderr, both pipes read until EOF."""
    assert proc.stdout is not None  # noqa: S101 - stdout=PIPE
    assert proc.stderr is not None  # noqa: S101 - stderr=PIPE
    streams: dict[IO[bytes], bytearray] = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    ends_at = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            left = ends_at - time.monotonic()
            if left <= 0:
                raise _Overrun(f"did not finish within {timeout:.0f}s")
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = streams[key.fileobj]  # type: ignore[index]
                buffer += chunk
                if key.fileobj is proc.stdout and len(buffer) > MAX_STDOUT:
                    raise _Overrun(f"printed more than {MAX_STDOUT:,} bytes on stdout")
                if key.fileobj is proc.stderr:
                    del buffer[:-STDERR_TAIL]
    try:
        proc.wait(max(0.1, ends_at - time.monotonic()))
    except subprocess.TimeoutExpired as exc:  # closed its pipes but kept running
        raise _Overrun(f"did not finish within {timeout:.0f}s") from exc
    return bytes(streams[proc.stdout]), bytes(streams[proc.stderr])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)


def split(command: str) -> list[str]:
    """Split like a POSIX shell would (quotes, escapes), without running one."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(
            f"{NAME}: cannot split --token-command: {exc}",
            hint="Quote arguments as a shell would",
        ) from exc
    if not argv:
        raise UsageError(f"{NAME}: --token-command is empty")
    return argv


class CommandSource:
    """The token a command prints; killed (with its process group) when it overruns."""

    name = NAME
    requests_audience = False  # the command's issuer chose the audience, not us

    def __init__(self, command: str, *, max_seconds: float = MAX_SECONDS) -> None:
        self.argv = split(command)
        self.program = os.path.basename(self.argv[0])
        self.max_seconds = max_seconds

    def describe(self) -> str:
        return f"token command {self.program} ({len(self.argv) - 1} arguments)"

    def _run(self, timeout: float) -> tuple[int, bytes, bytes]:
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout kills its children too
            )
        except OSError as exc:
            raise TokenUnavailableError(
                f"{NAME}: cannot run {self.program}: {exc.strerror or exc}",
                hint="Check --token-command: the program must exist and be executable",
            ) from exc
        try:
            out, err = _collect(proc, timeout)
        except _Overrun as exc:
            _kill(proc)
            raise TokenUnavailableError(
                f"{NAME}: {self.program} {exc.why} and was killed",
                hint="Make the token command non-interactive and fast, printing only the "
                "token, or raise --timeout",
                transient=exc.why.startswith("did not"),
            ) from None
        finally:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        return proc.returncode, out, err

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        code, out, err = self._run(deadline.clip(self.max_seconds))
        if code != 0:
            # Never echo stdout: it may hold a token. A short stderr excerpt helps.
            lines = err.decode("utf-8", "replace").strip().splitlines()
            # Stderr is foreign: escape controls and redact a token it may have printed.
            excerpt = for_terminal(lines[-1], STDERR_EXCERPT) if lines else ""
            raise TokenUnavailableError(
                f"{NAME}: {self.program} exited with status {code}"
                + (f": {excerpt}" if excerpt else ""),
                hint="Run the token command by hand to see why it fails",
            )
        return decode_bytes(
            out,
            source=f"{NAME} ({self.program})",
            binary="printed binary data",
            hint="The token command must print one compact JWT on stdout",
        )


def applies(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    command = configured(settings.token_command, forced=forced, flag="--token-command", name=NAME)
    return (
        CommandSource(command, max_seconds=min(MAX_SECONDS, settings.timeout)) if command else None
    )
