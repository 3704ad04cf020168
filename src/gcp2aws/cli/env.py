"""``gcp2aws env``: print the credentials as environment variables for a shell or a dotenv file."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import add_options, fetch, write_stdout

DESCRIPTION = """\
Print temporary AWS credentials as environment variables, quoted for the chosen
shell or file format. Credentials come from the shared cache when fresh.

  bash/zsh/dash:  eval "$(gcp2aws env --role-arn ARN)"
  fish:           gcp2aws env --format fish --role-arn ARN | source
  PowerShell:     gcp2aws env --format powershell --role-arn ARN | Out-String | Invoke-Expression
  dotenv file:    gcp2aws env --format dotenv --role-arn ARN > .env

Sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and
AWS_CREDENTIAL_EXPIRATION, plus AWS_REGION and AWS_DEFAULT_REGION with --region.
The variables do not refresh themselves: for long-running programs prefer
`gcp2aws exec --server` or a credential_process profile.
"""


def register(sub: Any) -> None:
    from gcp2aws.delivery.shellenv import FORMATS

    parser = sub.add_parser(
        "env",
        help="print the credentials as environment variables (sh, fish, powershell, dotenv, json)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="sh",
        dest="env_format",
        help="output format (default: sh, for eval in bash, zsh, dash, ksh)",
    )
    add_options(parser)
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.delivery import shellenv

    settings, result = fetch(ns, environ)
    variables = shellenv.credential_vars(result.credentials, settings.region)
    # Render before writing anything: a refused value must not leave half a script on stdout.
    write_stdout(shellenv.render(variables, ns.env_format))
    return 0
