"""The ``gcp2aws`` entry point: try the cache-hit fast path, else hand over to the full CLI.

Kept tiny on purpose: everything imported here is paid on every AWS CLI command.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["credentials"]:
        from gcp2aws.hotpath import serve_from_cache

        try:
            if serve_from_cache(args[1:], os.environ):
                return 0
        except BrokenPipeError:
            return 0
        except Exception:  # noqa: S110 - the full path below reports problems properly
            pass
    from gcp2aws.cli.app import run

    return run(args)
