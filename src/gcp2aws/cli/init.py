"""``gcp2aws init``: write or update an AWS profile that runs gcp2aws, then verify it works."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gcp2aws import envvars
from gcp2aws.cli.common import (
    ALL_OPTIONS,
    add_force_option,
    add_options,
    exchange_flags,
    load_settings,
    write_stdout,
)
from gcp2aws.errors import Gcp2AwsError, UsageError

if TYPE_CHECKING:
    from gcp2aws.awsconfig.region import RegionChoice
    from gcp2aws.settings import Settings

DESCRIPTION = """\
Write (or update) a profile in AWS_CONFIG_FILE (default ~/.aws/config) whose
credential_process runs this gcp2aws with the flags given here, then verify it:
exchange a token and call STS GetCallerIdentity with the new credentials. Every
byte outside that profile is kept; a .bak copy is written first; running it twice
changes nothing the second time. If verification fails, the doctor runs.
"""
# Flags that describe the exchange and so belong on the credential_process line.
PASSED_THROUGH = tuple(d for d in ALL_OPTIONS if d not in ("debug", "no_cache", "timeout"))


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "init",
        help="write the AWS profile and verify it",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, ALL_OPTIONS)
    parser.add_argument("--profile", default="default", help="profile name (default: default)")
    parser.add_argument(
        "--yes", "-y", action="store_true", help="overwrite a differing profile without asking"
    )
    parser.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="show the lines it would write and change nothing",
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="do not run the exchange after writing"
    )
    add_force_option(parser, "the AWS config file")
    parser.set_defaults(func=run)


def executable() -> list[str]:
    """The absolute command that runs this installation of gcp2aws."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "gcp2aws" and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]
    found = shutil.which("gcp2aws")
    if found and os.path.dirname(os.path.abspath(found)) == os.path.dirname(sys.executable):
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "gcp2aws"]


def profile_lines(ns: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    from gcp2aws import options
    from gcp2aws.awsconfig import profile as awsconfig

    # Flags and GCP2AWS_* variables alike: the AWS CLI runs the line later, in environments
    # that may not have the variables init saw.
    raw = options.resolve_raw(exchange_flags(ns), environ)
    args = ["credentials"]
    for dest, flag, _env, takes_value, _help in options.OPTIONS:
        value = raw.get(dest)
        if dest not in PASSED_THROUGH or value is None:
            continue
        if dest in options.REPEATABLE:  # one flag per hop, as a person would write it
            for part in value.split(","):
                args.extend([flag, part.strip()])
        else:
            args.extend([flag, value] if takes_value else [flag])
    exe = executable()
    return {"credential_process": awsconfig.credential_process_command(exe[0], exe[1:] + args)}


def choose_region(
    ns: argparse.Namespace, settings: Settings, environ: Mapping[str, str], text: str
) -> RegionChoice:
    """The profile's region: --region, AWS_REGION/AWS_DEFAULT_REGION, the profile's own, the
    nearest to the workload's Google zone, else the partition's default."""
    from gcp2aws.awsconfig import profile as awsconfig
    from gcp2aws.awsconfig import region

    return region.choose(
        role_arn=settings.require_role_arn(),
        explicit=settings.region,
        explicit_from="--region" if ns.region else envvars.REGION,
        environ=environ,
        profile_region=awsconfig.read_profile(text, ns.profile).get("region") or None,
        google_location=lambda: _google_location(settings, environ),
    )


def _google_location(settings: Settings, environ: Mapping[str, str]) -> str | None:
    from gcp2aws.idtoken import chain, metadata

    try:
        source = chain.select(settings, environ)
    except Gcp2AwsError:
        return None  # no source here yet: the verification (or the doctor) will say why
    if not isinstance(source, metadata.MetadataSource):
        return None  # off Google Cloud (a key file, gcloud): no zone to be near
    return metadata.workload_location(source.host)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.awsconfig import file as awsconfig_file
    from gcp2aws.awsconfig import profile as awsconfig

    settings = load_settings(ns, environ)  # validates every flag before touching the file
    settings.require_role_arn()
    header = awsconfig.section_header(ns.profile)
    path = awsconfig_file.config_path(environ)
    text = awsconfig_file.read_config(path)
    lines = profile_lines(ns, environ)
    choice = choose_region(ns, settings, environ, text)
    lines["region"] = choice.region
    # One line, so that a region nobody asked for is never a surprise.
    sys.stderr.write(f"gcp2aws: region {choice.region}: {choice.why}\n")
    if ns.print_only:
        write_stdout(header + "\n" + "".join(f"{k} = {v}\n" for k, v in lines.items()))
        return 0
    changes = awsconfig.diff_profile(text, ns.profile, lines)
    existing = awsconfig.find_profile(text, ns.profile) is not None
    if not changes:
        sys.stderr.write(f"gcp2aws: {header} in {path} is already up to date\n")
    else:
        if existing and not ns.yes:
            shown = ", ".join(key for key, _old, _new in changes)
            if not _confirm(f"{header} in {path} differs ({shown}). Overwrite?"):
                raise UsageError(
                    f"{header} in {path} exists with different settings ({shown})",
                    hint="Pass --yes to overwrite it, or --print to see the lines",
                )
        written = awsconfig_file.write_config(
            path, awsconfig.upsert_profile(text, ns.profile, lines), force=ns.force
        )
        note = (
            f" (previous version in {awsconfig_file.backup_path(path)})" if written and text else ""
        )
        # Name the file that changed: through a symlink, that is its target.
        shown = str(path) if written in (None, path) else f"{written} (via {path})"
        sys.stderr.write(f"gcp2aws: wrote {header} to {shown}{note}\n")
    if ns.no_verify:
        return 0
    return verify(ns, environ)


def verify(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Exchange, then GetCallerIdentity signed with the new credentials; doctor on failure."""
    from gcp2aws import sts
    from gcp2aws.doctor.checks import Doctor, render_text
    from gcp2aws.provider import CredentialProvider

    settings = load_settings(ns, environ)
    try:
        creds = CredentialProvider(settings, environ=environ).get().credentials
        # Signed and sent the way `aws --profile NAME` will: that profile's region and
        # endpoint settings, not the ones the exchange used.
        session = sts.profile_session(ns.profile, environ)
        arn = sts.caller_identity(
            creds,
            role_arn=settings.require_role_arn(),
            region=sts.cli_region(session, environ, profile=ns.profile),
            timeout=settings.timeout,
            session=session,
            environ=environ,
        )
    except Gcp2AwsError as exc:
        sys.stderr.write(f"gcp2aws: verification failed: {exc.one_line()}\n")
        sys.stderr.write("gcp2aws: running the doctor:\n")
        doctor = Doctor(settings, environ, profile=ns.profile)
        sys.stderr.write(render_text(doctor.run()))
        return int(exc.exit_code)
    sys.stderr.write("gcp2aws: verified with STS GetCallerIdentity\n")
    profile = "" if ns.profile == "default" else f" --profile {ns.profile}"
    write_stdout(f"{arn}\nTry: aws sts get-caller-identity{profile}\n")
    return 0
