"""``gcp2aws credentials-file``: keep one profile of a shared credentials file fresh.

For tools that only read static keys from ``~/.aws/credentials`` (old SDKs, some JVM tools, a
container that mounts ``~/.aws`` read-only): gcp2aws writes ``aws_access_key_id``,
``aws_secret_access_key`` and ``aws_session_token`` into that one profile, with the same
byte-preserving editor ``init`` uses, under a lock, by atomic replace with the file's mode kept
(0600 for a new file). With ``--watch`` it rewrites them ahead of expiry on the shared
schedule. The reading tool never refreshes static keys itself: the watcher must keep running.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gcp2aws.cli.common import add_force_option, add_options, load_settings

log = logging.getLogger("gcp2aws")

KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
LOCK_SECONDS = 10.0

DESCRIPTION = """\
Write temporary AWS credentials into one profile of a shared credentials file
(default: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), keeping every
other byte of the file, for tools that read only static keys:

  gcp2aws credentials-file --role-arn ARN --profile gcp --watch

Those tools never refresh the keys themselves: run it with --watch (a systemd
unit, a sidecar) so that the profile is rewritten ahead of every expiry.
Without --watch it writes once and exits.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "credentials-file",
        help="keep a profile of ~/.aws/credentials fresh, for tools that read only static keys",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", default="default", help="profile to write (default: default)")
    parser.add_argument(
        "--file",
        metavar="PATH",
        help="credentials file (default: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)",
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="write once and exit (the default)")
    when.add_argument(
        "--watch", action="store_true", help="keep the profile fresh until SIGTERM/SIGINT"
    )
    add_force_option(parser, "the credentials file")
    add_options(parser)
    parser.set_defaults(func=run)


def target(ns: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    from gcp2aws import paths

    raw = ns.file or paths.aws_credentials_file(environ)
    return Path(paths.expand_user(raw, environ))


def write_profile(
    path: Path, profile: str, values: Mapping[str, str], *, lock: Any, force: bool
) -> None:
    """Read, edit and replace the file under ``lock``: two writers never lose an update."""
    from gcp2aws.awsconfig import file as awsconfig_file
    from gcp2aws.awsconfig.profile import CREDENTIALS, upsert_profile

    with lock:
        if not lock.acquired:
            log.warning("could not lock %s; writing without the lock", path)
        text = awsconfig_file.read_config(path)
        new = upsert_profile(text, profile, values, style=CREDENTIALS)
        awsconfig_file.write_config(path, new, backup=False, force=force)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws import signals
    from gcp2aws.awsconfig.profile import CREDENTIALS, section_header
    from gcp2aws.cache import CredentialCache
    from gcp2aws.delivery import schedule
    from gcp2aws.errors import Gcp2AwsError
    from gcp2aws.provider import CredentialProvider

    settings = load_settings(ns, environ)
    settings.require_role_arn()
    section_header(ns.profile, CREDENTIALS)  # refuse a bad name before any exchange
    path = target(ns, environ)
    provider = CredentialProvider(settings, environ=environ)
    cache = CredentialCache(settings.cache_dir)
    lock_key = f"credentials-file\n{path.resolve()}"
    stop = threading.Event()
    rng = random.Random()  # noqa: S311 - jitter only
    failures = 0
    with signals.stopping(stop):
        while True:
            try:
                creds = provider.get().credentials
                values = dict(zip(KEYS, (creds.access_key_id, creds.secret_access_key,
                                         creds.session_token), strict=True))  # fmt: skip
                write_profile(
                    path, ns.profile, values, lock=cache.lock(lock_key, LOCK_SECONDS),
                    force=ns.force,
                )  # fmt: skip
            except Gcp2AwsError as exc:
                if not ns.watch:
                    raise
                failures += 1
                log.warning("refresh failed (%s); the profile keeps its keys", exc.one_line())
                delay = schedule.retry_delay(failures, rng=rng)
            else:
                failures = 0
                now = time.time()
                left = creds.remaining(now)
                sys.stderr.write(
                    f"gcp2aws: credentials-file: wrote [{ns.profile}] in {path} "
                    f"(key {creds.redacted_key_id()}, expires in {int(left) // 60} min)\n"
                )
                if not ns.watch:
                    return 0
                expiration = now + left
                delay = schedule.credentials_refresh_at(
                    expiration, now, window=settings.refresh_window, rng=rng
                ) - now  # fmt: skip
            if stop.wait(max(schedule.MIN_REFRESH_DELAY, delay)):
                return 0
