"""The cache-hit path of ``gcp2aws credentials``: a few syscalls, no heavy imports.

It runs before argparse, logging, json or botocore are imported. Anything it does not
recognise (help, an unknown flag, a miss, a stale or unsafe entry) returns False, and the
full CLI takes over and does everything properly, including the error messages.
"""

from __future__ import annotations

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
