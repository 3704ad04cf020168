"""``gcp2aws demo``: run the whole flow against local emulators, with no cloud account."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the full flow against a local metadata emulator and a local STS",
        description="Start the GCE metadata emulator and a local STS (moto) on loopback, "
        "then let botocore use a credential_process profile backed by gcp2aws, twice "
        "(exchange, then cache hit). Needs the demo extra: pip install 'gcp2aws[demo]'.",
    )
    parser.add_argument("--debug", action="store_true", help="log progress to stderr")
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.emulator import demo

    demo.run()
    return 0
