"""``gcp2aws exec``: run a command with the credentials in its environment (no shell involved)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import add_options, load_settings
from gcp2aws.errors import CommandError, CommandNotFoundError

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


def _terminal_delivers(signum: int) -> bool:
    """True when the terminal already sent this signal to the child (Ctrl-C, Ctrl-\\).

    Keyboard signals go to the whole foreground process group, child included; forwarding
    them again would deliver them twice.
    """
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


def _run_with_server(
    ns: argparse.Namespace, settings: Any, environ: Mapping[str, str], command: list[str]
) -> int:
    import subprocess

    from gcp2aws import signals
    from gcp2aws.cli.serve import endpoint_options
    from gcp2aws.delivery import shellenv
    from gcp2aws.delivery.server import start

    # Handlers go in before the child exists: a SIGTERM in between must not orphan it.
    child: subprocess.Popen[bytes] | None = None
    pending: list[int] = []

    def _forward(signum: int, _frame: object) -> None:
        if _terminal_delivers(signum):
            return
        if child is None:
            pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    with signals.handling(_forward, FORWARDED_SIGNALS):
        access_log = sys.stderr if settings.debug else None
        server = start(settings, environ, access_log=access_log, **endpoint_options(ns))
        try:
            extra = server.client_env()
            if settings.region:
                extra.update(shellenv.region_vars(settings.region))
            env = shellenv.child_environ(environ, extra)
            if any(sig in pending for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
                return 128 + pending[0]
            try:
                child = subprocess.Popen(command, env=env)
            except OSError as exc:
                raise _exec_failure(command[0], exc) from exc
            code = child.wait()
        finally:
            server.stop()
    return code if code >= 0 else 128 - code
