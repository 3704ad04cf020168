"""``gcp2aws serve``: run the loopback container credentials endpoint until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

from gcp2aws import validation
from gcp2aws.cli.common import (
    FILE_MODES,
    add_force_option,
    add_options,
    load_settings,
    write_stdout,
)

DESCRIPTION = """\
Serve temporary AWS credentials to local AWS SDKs and CLIs as a container
credentials endpoint (the ECS protocol), on loopback only, behind a random
256-bit bearer token. Credentials are refreshed in the background before they
expire, through the same on-disk cache and lock as every other command.

Prints the two variables a client needs (or writes them with --env-file):
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/
  AWS_CONTAINER_AUTHORIZATION_TOKEN=... (or ..._TOKEN_FILE with --auth-token-file)

Sidecar use: gcp2aws serve --role-arn ARN --port 9911 \\
                 --auth-token-file /var/run/gcp2aws/auth-token
GET /healthz answers 200 without authentication and reveals nothing.
"""

log = logging.getLogger("gcp2aws.delivery.server")


def register(sub: Any) -> None:
    from gcp2aws.delivery.shellenv import FORMATS

    parser = sub.add_parser(
        "serve",
        help="run a loopback credentials endpoint for AWS SDKs (container credentials protocol)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("endpoint")
    add_endpoint_options(group)
    group.add_argument(
        "--auth-token-file",
        metavar="PATH",
        help="write the bearer token to PATH (mode 0600, atomically) for clients that use "
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; the token is then not printed",
    )
    group.add_argument(
        "--env-file",
        metavar="PATH",
        help="write the client variables to PATH (mode 0600, NAME=value lines) instead of "
        "printing them",
    )
    group.add_argument(
        "--auth-token-mode",
        choices=tuple(FILE_MODES),
        default="0600",
        help="mode of the --auth-token-file: 0600 (default), or 0640/0644 when the app "
        "container runs as another user and the file sits on a volume only this pod mounts",
    )
    add_force_option(group, "--auth-token-file/--env-file")
    group.add_argument(
        "--format",
        choices=FORMATS,
        default="sh",
        dest="env_format",
        help="format of the printed client variables (default: sh)",
    )
    group.add_argument(
        "--no-access-log",
        action="store_true",
        help="do not write a JSON access-log line per request to stderr",
    )
    add_options(parser)
    parser.set_defaults(func=run)


def add_endpoint_options(group: Any) -> None:
    """Bind options shared by ``serve`` and ``exec --server``."""
    group.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1; ::1 works too; anything else needs "
        "--allow-non-loopback)",
    )
    group.add_argument(
        "--port", type=validation.port, default=0, help="TCP port (default: 0, any free port)"
    )
    group.add_argument(
        "--max-connections",
        type=validation.port,  # ASCII digits; 1-65535 is plenty of range
        metavar="N",
        help="connections held at once (default: 256); past it the one that has waited "
        "longest for a complete request is closed",
    )
    group.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow binding a non-loopback address (dangerous: the endpoint hands out "
        "credentials to anyone with the token)",
    )


def endpoint_options(ns: argparse.Namespace) -> dict[str, Any]:
    """The bind options ``add_endpoint_options`` added, as ``delivery.server.start`` takes them."""
    options = {"host": ns.host, "port": ns.port, "allow_non_loopback": ns.allow_non_loopback}
    if ns.max_connections is not None:  # else the server's own default (MAX_CONNECTIONS)
        options["max_connections"] = ns.max_connections
    return options


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws import signals
    from gcp2aws.delivery import server_auth, shellenv
    from gcp2aws.delivery.server import start

    settings = load_settings(ns, environ)
    for path in (ns.auth_token_file, ns.env_file):  # refuse a bad path before binding
        if path:
            server_auth.check_private_file(path, force=ns.force)
    log.setLevel(logging.INFO)  # refreshes and lifecycle are worth seeing on a service
    stop = threading.Event()
    with signals.stopping(stop):
        access_log = None if ns.no_access_log else sys.stderr
        # Refreshes run here, in the main thread, where SIGALRM can bound an STS call that a
        # dripping server would otherwise hold open past --timeout.
        server = start(
            settings,
            environ,
            access_log=access_log,
            refresh_thread=False,
            **endpoint_options(ns),
        )
        try:
            if ns.auth_token_file:
                # No trailing newline: SDKs send the file's content verbatim.
                server_auth.write_private_file(
                    ns.auth_token_file,
                    server.auth_token,
                    force=ns.force,
                    mode=FILE_MODES[ns.auth_token_mode],
                )
            client = server.client_env(token_file=ns.auth_token_file)
            if ns.env_file:
                server_auth.write_private_file(
                    ns.env_file, shellenv.render(client, "dotenv"), force=ns.force
                )
            else:
                write_stdout(shellenv.render(client, ns.env_format))
            log.info("serving credentials for %s on %s", settings.role_arn, server.url)
            server.refresh_forever(stop)
            log.info("shutting down")
        finally:
            server.stop()
    return 0
