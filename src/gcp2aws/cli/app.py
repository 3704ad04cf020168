"""The full CLI: argparse wiring for every subcommand, logging, and error-to-exit-code mapping.

Each subcommand lives in its own module under ``gcp2aws.cli`` with ``register(subparsers)``;
this module is the one place that renders errors and maps them to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from gcp2aws._version import __version__
from gcp2aws.errors import ExitCode, Gcp2AwsError
from gcp2aws.options import TRUE_WORDS
from gcp2aws.sanitize import for_terminal

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "gcp2aws.cli.credentials",
    "gcp2aws.cli.token",
    "gcp2aws.cli.env",
    "gcp2aws.cli.exec_",
    "gcp2aws.cli.serve",
    "gcp2aws.cli.credentials_file",
    "gcp2aws.cli.policy",
    "gcp2aws.cli.init",
    "gcp2aws.cli.doctor",
    "gcp2aws.cli.cache",
    "gcp2aws.cli.demo",
    "gcp2aws.cli.emulator",
    "gcp2aws.cli.webhook",
    "gcp2aws.cli.completion",
)

log = logging.getLogger("gcp2aws")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        # Always "gcp2aws: error:", also from a subcommand's parser (whose prog is
        # "gcp2aws credentials"): wrappers and tests look for that one prefix.
        message = for_terminal(message, limit=4000)  # it may quote the argument given
        sys.stderr.write(f"gcp2aws: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(ExitCode.USAGE)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        text = record.getMessage()
        if not record.exc_info:  # a --debug traceback keeps its lines
            text = for_terminal(text, limit=4000)
        return f"gcp2aws: {level}: {text}"


def configure_logging(debug: bool) -> None:
    root = logging.getLogger("gcp2aws")
    if not any(getattr(h, "_gcp2aws", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        handler._gcp2aws = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False


def command_module(word: str) -> str | None:
    """The module that registers the subcommand ``word`` (``exec`` lives in ``exec_``)."""
    name = "gcp2aws.cli." + word.replace("-", "_") + ("_" if word == "exec" else "")
    return name if name in COMMAND_MODULES else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI, or with ``only`` (a subcommand's module) just that subcommand.

    A long-lived sidecar (``token --watch``, ``serve``) then never imports the other thirteen
    commands: on a fleet, every resident megabyte is paid once per Pod.
    """
    parser = Parser(
        prog="gcp2aws",
        description="Temporary AWS credentials for Google Cloud workloads, from their Google "
        "identity: no long-lived AWS key.",
    )
    parser.add_argument("--version", action="version", version=f"gcp2aws {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in (only,) if only else COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _debug_requested(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    from gcp2aws import envvars

    return "--debug" in args or environ.get(envvars.DEBUG, "").lower() in TRUE_WORDS


def run(args: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    debug = _debug_requested(args, environ)
    configure_logging(debug)
    try:
        # An unknown word gets the whole parser, whose error lists every command.
        only = command_module(args[0]) if args else None
        ns = build_parser(only).parse_args(list(args))
        code: int = ns.func(ns, environ)
        return code
    except Gcp2AwsError as exc:
        if debug:
            log.debug("failure", exc_info=True)
        # Messages quote foreign values (paths, hosts, URLs): escape any control byte there.
        sys.stderr.write(f"gcp2aws: error: {for_terminal(exc.one_line(), limit=4000)}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("gcp2aws: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); nothing useful left to say.
        return int(ExitCode.OK)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    except Exception as exc:  # a bug: say so without dumping state that may hold secrets
        if debug:
            log.debug("internal error", exc_info=True)
        sys.stderr.write(
            f"gcp2aws: internal error: {type(exc).__name__}. This is a bug; re-run with "
            "--debug and report it\n"
        )
        return int(ExitCode.INTERNAL)
