"""The token-command source: run a command (never through a shell); its stdout is the token."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from typing import TYPE_CHECKING

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
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            try:  # a grandchild that left the group may hold the pipes open: do not wait on it
                proc.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                proc.wait()
            raise TokenUnavailableError(
                f"{NAME}: {self.program} did not finish within {timeout:.0f}s and was killed",
                hint="Make the token command non-interactive and fast, or raise --timeout",
                transient=True,
            ) from exc
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
