"""The ``gcp2aws`` entry point and its cache-hit path: a few syscalls, no heavy imports.

``main`` serves a warm ``gcp2aws credentials`` before argparse, logging, json or botocore are
imported. Anything it does not recognise (help, an unknown flag, a miss, a stale or unsafe
entry) goes to the full CLI, which does everything properly, including the error messages.
Everything imported here is paid on every AWS CLI command.
"""

from __future__ import annotations

import os
import sys
import time

from gcp2aws import options
from gcp2aws.cache import CredentialCache, cache_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def serve_from_cache(argv: list[str], environ: Mapping[str, str]) -> bool:
    """Write cached credential_process JSON to stdout and return True, or return False."""
    cli = options.parse_fast(argv)
    if cli is None:
        return False
    raw = options.resolve_raw(cli, environ)
    if "role_arn" not in raw or "no_cache" in raw or "debug" in raw:
        return False
    window = raw.get("refresh_window", str(options.DEFAULT_REFRESH_WINDOW))
    if not (window.isascii() and window.isdigit()):  # str.isdigit also takes '²'
        return False
    cache = CredentialCache(options.cache_dir(raw, environ))
    if cache.unsafe_reason() is not None:
        return False
    entry = cache.read(cache_key(options.key_parts(raw, environ)))
    if entry is None or entry.remaining(time.time()) <= int(window):
        return False
    out = sys.stdout.buffer
    out.write(entry.payload)
    out.flush()
    return True


def main(argv: list[str] | None = None) -> int:
    """The console script: the fast path for a cache hit, else the full CLI."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["credentials"]:
        try:
            if serve_from_cache(args[1:], os.environ):
                return 0
        except BrokenPipeError:
            return 0
        except Exception:  # noqa: S110 - the full path below reports problems properly
            pass
    from gcp2aws.cli.app import run

    return run(args)
