"""``gcp2aws policy``: print the IAM trust policy for the identity in use, in four formats."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import SOURCE_OPTIONS, add_options, load_settings, write_stdout

DESCRIPTION = """\
Fetch a real ID token from the token source in use and print the trust policy that
lets exactly that identity assume a role: Principal accounts.google.com,
accounts.google.com:aud = the token's azp (the service account's unique ID on Google
Cloud, its email with a key file) and accounts.google.com:oaud = the audience.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "policy",
        help="print the IAM trust policy for this identity",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, SOURCE_OPTIONS)
    parser.add_argument(
        "--format",
        choices=("json", "terraform", "cloudformation", "aws-cli"),
        default="json",
        help="output format (default: json)",
    )
    parser.add_argument(
        "--role-session-name",
        dest="session_pattern",
        metavar="PATTERN",
        help="also require sts:RoleSessionName StringLike PATTERN (wildcards * and ?)",
    )
    parser.add_argument(
        "--role-name", default="gcp2aws", help="role name for terraform/cloudformation/aws-cli"
    )
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.policy import generate as policygen
    from gcp2aws.provider import CredentialProvider
    from gcp2aws.retry import Deadline

    settings = load_settings(ns, environ)
    token = CredentialProvider(settings, environ=environ).fetch_token(Deadline(settings.timeout))
    policy = policygen.trust_policy(
        token, audience=settings.audience, session_name_pattern=ns.session_pattern
    )
    write_stdout(policygen.render(policy, ns.format, role_name=ns.role_name))
    return 0
