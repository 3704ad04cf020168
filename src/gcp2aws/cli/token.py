"""``gcp2aws token``: print, decode, or keep writing the Google ID token for scripts and SDKs."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from gcp2aws import signals
from gcp2aws.cli.common import (
    FILE_MODES,
    SOURCE_OPTIONS,
    add_force_option,
    add_options,
    load_settings,
    write_stdout,
)
from gcp2aws.errors import UsageError
from gcp2aws.models import IdToken

DESCRIPTION = """\
Print this workload's Google ID token (raw, one line) for scripts, or --decode it.

With --write PATH the token goes to PATH atomically (mode 0600 unless --mode), and
--watch keeps it fresh for AWS SDKs configured with a web identity token file:
  AWS_WEB_IDENTITY_TOKEN_FILE=PATH AWS_ROLE_ARN=arn:aws:iam::123456789012:role/NAME
or, in ~/.aws/config, web_identity_token_file = PATH and role_arn = ARN.
--once refreshes PATH only when its token is missing or about to expire (for cron).
"""

UNVERIFIED_NOTE = (
    "signature NOT verified: these are the claims as sent; AWS STS verifies the signature"
)
# What AWS's built-in accounts.google.com provider compares each condition key with.
CONDITION_KEYS = (
    ("accounts.google.com:aud", "azp", "azp if present, else aud"),
    ("accounts.google.com:oaud", "aud", "aud (the audience that was requested)"),
    ("accounts.google.com:sub", "sub", "sub"),
)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "token",
        help="print, decode or keep writing the Google ID token",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, SOURCE_OPTIONS)
    out = parser.add_argument_group("output")
    out.add_argument(
        "--decode",
        action="store_true",
        help="print the token's header and claims as JSON (signature not verified)",
    )
    out.add_argument(
        "--write",
        metavar="PATH",
        help="write the bare token to PATH atomically (a regular file; - for stdout)",
    )
    add_force_option(out, "the --write file")
    out.add_argument(
        "--watch", action="store_true", help="with --write: keep PATH fresh until SIGTERM/SIGINT"
    )
    out.add_argument(
        "--once",
        action="store_true",
        help="with --write: refresh PATH only if its token is missing or stale",
    )
    out.add_argument(
        "--mode",
        choices=tuple(FILE_MODES),
        help="with --write: file mode, 0600 (default), or 0640/0644 for a shared volume",
    )
    # Seconds ahead of exp to refresh; tests shorten it to rotate within seconds.
    out.add_argument("--lead", type=float, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def _check_combinations(ns: argparse.Namespace) -> None:
    if ns.write is None or ns.write == "-":
        pairs = (("--watch", ns.watch), ("--once", ns.once), ("--mode", ns.mode))
        for flag, value in (*pairs, ("--force", ns.force)):
            if value:
                raise UsageError(f"{flag} needs --write PATH (a file, not stdout)")
        if ns.write == "-" and ns.decode:
            raise UsageError("--decode cannot be combined with --write")
        return
    if ns.decode:
        raise UsageError("--decode cannot be combined with --write")
    if ns.watch and ns.once:
        raise UsageError("choose one of --watch and --once")
    if ns.lead is not None and ns.lead < 0:
        raise UsageError("--lead must not be negative")


def decoded(token: IdToken, *, now: float) -> dict[str, Any]:
    """The --decode document: header, claims, expiry and the AWS condition keys they feed."""
    exp = token.expires_at
    keys: dict[str, Any] = {}
    for key, claim, explains in CONDITION_KEYS:
        value = token.aws_aud if claim == "azp" else token.claims.get(claim)
        keys[key] = {"claim": explains, "value": value}
    return {
        "signature_verified": False,
        "note": UNVERIFIED_NOTE,
        "source": token.source,
        "header": dict(token.header),
        "claims": dict(token.claims),
        "expires_in_seconds": None if exp is None else int(exp - now),
        "aws_condition_keys": keys,
    }


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.delivery import schedule
    from gcp2aws.provider import CredentialProvider
    from gcp2aws.retry import Deadline

    _check_combinations(ns)
    settings = load_settings(ns, environ)
    provider = CredentialProvider(settings, environ=environ)

    def fetch() -> IdToken:
        return provider.fetch_token(Deadline(settings.timeout))

    if ns.write == "-":  # the bare token, as a file would hold it: no trailing newline
        write_stdout(fetch().raw)
        return 0
    if ns.write is None:
        token = fetch()
        if ns.decode:
            doc = decoded(token, now=time.time())
            write_stdout(json.dumps(doc, indent=2, sort_keys=False) + "\n")
        else:
            write_stdout(token.raw + "\n")
        return 0

    from gcp2aws.delivery.tokenfile import Watcher

    stop = threading.Event()
    watcher = Watcher(
        fetch,
        ns.write,
        mode=FILE_MODES[ns.mode or "0600"],
        lead=schedule.TOKEN_LEAD if ns.lead is None else ns.lead,
        stop=stop,
        force=ns.force,
    )
    if ns.once:
        watcher.once()
        return 0
    if not ns.watch:
        token = watcher.refresh()
        watcher.announce(token, time.time(), None)
        return 0
    with signals.stopping(stop):
        return watcher.run()
