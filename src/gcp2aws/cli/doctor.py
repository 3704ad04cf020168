"""``gcp2aws doctor``: a PASS/WARN/FAIL checklist with the fix for each failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from gcp2aws import options
from gcp2aws.awsconfig import file as awsconfig_file
from gcp2aws.awsconfig import profile as awsconfig
from gcp2aws.cli.common import ALL_OPTIONS, add_options, exchange_flags, write_stdout
from gcp2aws.errors import ExitCode, Gcp2AwsError

DESCRIPTION = """\
Check everything between this workload and a working `aws sts get-caller-identity`:
versions, the AWS profile, which token source applies (and why the others do not),
the metadata server, the token's claims and expiry, clock skew, the cache directory,
the STS endpoint, and the exchange itself. On AccessDenied it evaluates the role's
trust policy (from --trust-policy FILE, or iam:GetRole when your AWS credentials
allow) against the token and names the statement and condition that fail.

Without --role-arn, the flags of the profile's `gcp2aws credentials` line are used.
Exit code 0 when nothing fails, 9 otherwise.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor",
        help="diagnose the setup and explain an AccessDenied",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, ALL_OPTIONS)
    parser.add_argument("--profile", help="AWS profile to check (default: AWS_PROFILE or default)")
    parser.add_argument("--trust-policy", metavar="FILE", help="the role's trust policy JSON")
    parser.add_argument(
        "--source-ip", metavar="IP", help="the address STS sees, for aws:SourceIp conditions"
    )
    parser.add_argument(
        "--no-iam", action="store_true", help="never call iam:GetRole to read the trust policy"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable results")
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws import settings as settings_mod
    from gcp2aws.doctor.checks import Doctor, render_json, render_text

    cli = exchange_flags(ns)
    if not cli.get("role_arn") and not environ.get("GCP2AWS_ROLE_ARN"):
        from gcp2aws.doctor import web_identity

        if web_identity.applies(environ) and not ns.profile:
            return _run_web_identity(ns, environ)
    note = ""
    if not cli.get("role_arn") and not environ.get("GCP2AWS_ROLE_ARN"):
        from_profile, origin = settings_from_profile(environ, ns.profile)
        # Flags given on this command line still win over the profile's.
        cli = {**from_profile, **{k: v for k, v in cli.items() if v not in (None, False)}}
        # Without a usable profile, origin is the reason why not.
        note = (
            f"checking the settings of {origin}"
            if from_profile
            else f"no --role-arn, and no profile to take it from: {origin}"
        )
    settings = settings_mod.load(cli, environ)
    doctor = Doctor(
        settings,
        environ,
        trust_policy_file=ns.trust_policy,
        source_ip=ns.source_ip,
        profile=ns.profile,
        fetch_role_policy=not ns.no_iam,
    )
    checks = doctor.run()
    if not ns.json and note:
        sys.stderr.write(f"gcp2aws: {note}\n")
    write_stdout(render_json(checks) if ns.json else render_text(checks))
    return int(ExitCode.OK if doctor.ok else ExitCode.CHECK_FAILED)


def _run_web_identity(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """A Pod whose own SDK exchanges AWS_WEB_IDENTITY_TOKEN_FILE: check what that SDK does."""
    from gcp2aws.doctor.checks import render_json, render_text
    from gcp2aws.doctor.web_identity import WebIdentityDoctor

    doctor = WebIdentityDoctor(
        environ, trust_policy_file=ns.trust_policy, fetch_role_policy=not ns.no_iam
    )
    checks = doctor.run()
    if not ns.json:
        sys.stderr.write(
            "gcp2aws: checking the SDK's web identity setup (AWS_WEB_IDENTITY_TOKEN_FILE, "
            "AWS_ROLE_ARN)\n"
        )
    write_stdout(render_json(checks) if ns.json else render_text(checks))
    return int(ExitCode.OK if doctor.ok else ExitCode.CHECK_FAILED)


def settings_from_profile(
    environ: Mapping[str, str], profile: str | None
) -> tuple[dict[str, str | bool | None], str]:
    """The flags of the profile's ``gcp2aws credentials`` line, so doctor checks what runs.

    Returns ({} , reason) when the profile has no such line.
    """
    path = awsconfig_file.config_path(environ)
    name = profile or environ.get("AWS_PROFILE") or "default"
    try:
        text = awsconfig_file.read_config(path)
        line = awsconfig.read_profile(text, name).get("credential_process", "")
        argv = awsconfig.parse_credential_process(line) if line else []
    except Gcp2AwsError as exc:
        return {}, exc.one_line()
    if "credentials" not in argv:
        return {}, f"profile {name!r} does not run `gcp2aws credentials`"
    rest = argv[argv.index("credentials") + 1 :]
    try:
        return options.parse_flags(rest), f"profile {name!r}"
    except options.FlagError as exc:
        return {}, f"profile {name!r}: its gcp2aws flags do not parse ({exc})"
