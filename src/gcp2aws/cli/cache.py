"""``gcp2aws cache``: show where cached credentials live, list them, or clear them."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import add_options, load_settings, write_stdout
from gcp2aws.errors import ConfigError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "cache",
        help="show, list or clear the credential cache",
        description="Cached credentials are 0600 files in a 0700 directory owned by you. "
        "Clearing them is always safe: the next command exchanges a fresh token.",
    )
    parser.add_argument("action", choices=("dir", "list", "clear"), help="what to do")
    add_options(parser, ("cache_dir", "debug"))
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.cache import CredentialCache
    from gcp2aws.sanitize import for_terminal

    settings = load_settings(ns, environ)
    cache = CredentialCache(settings.cache_dir)
    if ns.action == "dir":
        write_stdout(cache.directory + "\n")
        return 0
    if ns.action == "clear":
        reason = cache.unsafe_reason()
        if reason is not None and reason != "it does not exist yet":
            raise ConfigError(
                f"cache directory {cache.directory} is refused: {reason}; nothing was deleted",
                hint="Fix its owner and mode (0700), or point --cache-dir elsewhere",
            )
        removed = cache.clear()
        sys.stderr.write(
            f"gcp2aws: removed {removed} cached credential set(s) from {cache.directory}\n"
        )
        return 0
    now = time.time()
    lines = []
    reason = cache.unsafe_reason()
    if reason is not None and reason != "it does not exist yet":
        sys.stderr.write(f"gcp2aws: {cache.directory} is refused: {reason}\n")
    for name, entry in cache.entries():
        if entry is None:
            lines.append(f"{name}  unreadable (will be replaced)")
            continue
        # Entries are ours and checksummed, but a key is still text from a file: escape it.
        role = for_terminal(entry.key_value("opt.role_arn") or "-", 200)
        left = int(entry.remaining(now))
        state = f"expires in {left // 60} min" if left > 0 else "expired"
        lines.append(f"{name}  {role}  {state}")
    write_stdout("".join(line + "\n" for line in lines))
    return 0
