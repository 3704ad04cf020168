"""``gcp2aws exec``: run a command with the credentials in its environment (no shell involved)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gcp2aws.cli.common import add_options, load_settings
from gcp2aws.errors import CommandError, CommandNotFoundError

if TYPE_CHECKING:
    from gcp2aws.delivery.server import CredentialServer

DESCRIPTION = """\
Run CMD with temporary AWS credentials in its environment. CMD is executed
directly, never through a shell, and the credentials never appear on a command
line. Variables that would override them (AWS_PROFILE, AWS_DEFAULT_PROFILE,
AWS_SECURITY_TOKEN, AWS_CONTAINER_*, AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN,
AWS_ROLE_SESSION_NAME) are removed first.

Default: gcp2aws replaces itself with CMD, so signals and the exit code are the
child's own. The credentials are fixed for the child's life.

--server: gcp2aws starts a loopback credentials endpoint for the child's lifetime
and hands it AWS_CONTAINER_CREDENTIALS_FULL_URI and
AWS_CONTAINER_AUTHORIZATION_TOKEN, so a long-running child keeps getting fresh
credentials. gcp2aws stays the parent, forwards signals and exits with the
child's code (128+N if a signal N killed it).

  gcp2aws exec --role-arn ARN -- aws s3 ls
  gcp2aws exec --server --role-arn ARN -- python long_job.py
"""

FORWARDED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def register(sub: Any) -> None:
    from gcp2aws.cli.serve import add_endpoint_options

    parser = sub.add_parser(
        "exec",
        help="run a command with the credentials in its environment",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="gcp2aws exec [options] -- CMD [ARGS...]",
    )
    parser.add_argument(
        "--server",
        action="store_true",
        help="serve refreshing credentials to the child through a loopback endpoint",
    )
    group = parser.add_argument_group("endpoint (with --server)")
    add_endpoint_options(group)
    add_options(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _command(ns: argparse.Namespace) -> list[str]:
    from gcp2aws.errors import UsageError

    command = list(ns.command or [])
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError("no command given", hint="Usage: gcp2aws exec [options] -- CMD [ARGS...]")
    return command


def _exec_failure(command: str, exc: OSError) -> CommandError:
    if isinstance(exc, FileNotFoundError):
        return CommandNotFoundError(f"command not found: {command}", hint="")
    return CommandError(f"cannot execute {command}: {exc.strerror}", hint="")


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.delivery import shellenv

    command = _command(ns)
    settings = load_settings(ns, environ)
    settings.require_role_arn()
    if ns.server:
        return _run_with_server(ns, settings, environ, command)
    from gcp2aws.provider import CredentialProvider

    result = CredentialProvider(settings, environ=environ).get()
    env = shellenv.child_environ(
        environ, shellenv.credential_vars(result.credentials, settings.region)
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - no shell: argv goes as it is
    except OSError as exc:
        raise _exec_failure(command[0], exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover - execvpe returns only by raising


SI_KERNEL = 0x80  # Linux si_code of a signal the kernel sent (a terminal's Ctrl-C, Ctrl-\\)


def _terminal_delivers(signum: int) -> bool:
    """True when we are in the terminal's foreground process group, the child with us."""
    if signum not in (signal.SIGINT, signal.SIGQUIT):
        return False
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


def _already_delivered(info: Any) -> bool:
    """Whether the child got this signal too: a keyboard signal from our terminal.

    The terminal sends Ctrl-C and Ctrl-\\ to the whole foreground process group, child
    included; forwarding would deliver them twice. The same signal sent with ``kill`` to
    gcp2aws alone (si_code SI_USER, not SI_KERNEL) reaches only us, so it is forwarded.
    """
    return info.si_code == SI_KERNEL and _terminal_delivers(info.si_signo)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _run_with_server(
    ns: argparse.Namespace, settings: Any, environ: Mapping[str, str], command: list[str]
) -> int:
    """Serve credentials for the child's lifetime, forwarding signals by their origin.

    The forwarded signals (and SIGCHLD) are blocked in every thread and taken with
    ``sigwaitinfo``, which says who sent each one; the child starts through ``posix_spawn``
    with an empty signal mask and default handlers, as if it had been run directly.
    """
    from gcp2aws.cli.serve import endpoint_options
    from gcp2aws.delivery import shellenv
    from gcp2aws.delivery.server import start

    forwarded = {getattr(signal, name) for name in FORWARDED_SIGNALS if hasattr(signal, name)}
    waited = forwarded | {signal.SIGCHLD}
    # Blocked before any thread exists, so every server thread inherits the mask and a signal
    # that arrives during start-up waits for us instead of killing the process.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        access_log = sys.stderr if settings.debug else None
        # Refreshes run here, between signals, in the main thread: there the deadline's
        # SIGALRM (never in `waited`) can cut off an STS that drips its answer.
        server = start(
            settings,
            environ,
            access_log=access_log,
            refresh_thread=False,
            **endpoint_options(ns),
        )
        try:
            extra = server.client_env()
            if settings.region:
                extra.update(shellenv.region_vars(settings.region))
            env = shellenv.child_environ(environ, extra)
            early = signal.sigpending() & {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
            if early:
                return 128 + int(min(early))
            try:
                pid = os.posix_spawnp(
                    command[0], command, env,
                    setsigmask=set(old_mask) - waited, setsigdef=forwarded,
                )  # fmt: skip
            except OSError as exc:
                raise _exec_failure(command[0], exc) from exc
            return _wait_forwarding(pid, waited, server)
        finally:
            server.stop()
    finally:
        while signal.sigtimedwait(waited, 0) is not None:
            pass  # drain: a late signal must not hit our default handlers after the child
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _wait_forwarding(pid: int, waited: set[int], server: CredentialServer) -> int:
    while True:
        info = signal.sigtimedwait(waited, server.refresh_due_in())
        if info is None:  # no signal before the next refresh fell due
            server.refresh_now()
            continue
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return _exit_code(status)
            continue  # another child of ours (a token command) changed state
        if not _already_delivered(info):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, info.si_signo)
