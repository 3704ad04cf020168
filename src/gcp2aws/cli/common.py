"""Helpers shared by subcommands: exchange flags from the one option table, and output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gcp2aws import options, settings
from gcp2aws.settings import Settings

if TYPE_CHECKING:
    from gcp2aws.provider import Result

SOURCE_OPTIONS = (
    "audience",
    "token_source",
    "credentials_file",
    "impersonate_service_account",
    "delegates",
    "token_file",
    "token_command",
    "timeout",
    "debug",
)
ALL_OPTIONS = tuple(dest for dest, *_ in options.OPTIONS)


# File modes a writer offers: private, or readable by a shared volume's group or every user.
FILE_MODES = {"0600": 0o600, "0640": 0o640, "0644": 0o644}


def add_force_option(group: Any, what: str) -> None:
    """``--force``: the one override of ``atomicfile.check_target``'s refusals as root (a
    device, FIFO or directory is refused even so)."""
    group.add_argument(
        "--force",
        action="store_true",
        help=f"as root: write {what} through a symlink or over another user's file",
    )


def add_options(parser: argparse.ArgumentParser, dests: Iterable[str] = ALL_OPTIONS) -> None:
    """Add the named options, with the env var each mirrors shown in --help."""
    wanted = set(dests)
    for dest, flag, env, takes_value, help_text in options.OPTIONS:
        if dest not in wanted:
            continue
        if dest in options.REPEATABLE:
            parser.add_argument(
                flag, dest=dest, action="append", metavar="ARN", help=f"{help_text} [{env}]"
            )
        elif takes_value:
            parser.add_argument(
                flag, dest=dest, metavar=dest.split("_")[-1].upper(), help=f"{help_text} [{env}]"
            )
        else:
            parser.add_argument(flag, dest=dest, action="store_true", help=f"{help_text} [{env}]")


def exchange_flags(ns: argparse.Namespace) -> dict[str, str | bool | None]:
    """The parsed values of the option table's flags (dest -> value); a repeated flag's
    values joined with commas, as the fast path and the environment variable give them."""
    out = {k: v for k, v in vars(ns).items() if k in ALL_OPTIONS}
    for dest in options.REPEATABLE:
        if isinstance(out.get(dest), list):
            out[dest] = ",".join(out[dest])
    return out


def load_settings(ns: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    return settings.load(exchange_flags(ns), environ)


def fetch(ns: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Settings, Result]:
    """Settings from the flags, and the credentials for them (cache first)."""
    from gcp2aws.provider import CredentialProvider

    loaded = load_settings(ns, environ)
    loaded.require_role_arn()
    return loaded, CredentialProvider(loaded, environ=environ).get()


def write_stdout(text: str) -> None:
    """The payload, in one write: stdout is a protocol channel."""
    sys.stdout.write(text)
    sys.stdout.flush()
