"""``gcp2aws credentials``: print credential_process JSON for the AWS CLI, SDKs and Terraform."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import add_options, fetch, write_stdout

DESCRIPTION = """\
Exchange this workload's Google ID token for temporary AWS credentials (STS
AssumeRoleWithWebIdentity) and print them as credential_process JSON. Cached
credentials are reused while they have more than the refresh window left.

In ~/.aws/config:
  [profile gcp]
  credential_process = gcp2aws credentials --role-arn arn:aws:iam::123456789012:role/NAME
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "credentials",
        help="print credential_process JSON (the AWS CLI/SDK hook)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser)
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    _settings, result = fetch(ns, environ)
    write_stdout(result.payload)
    return 0
