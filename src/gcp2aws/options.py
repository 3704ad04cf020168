"""The exchange options: one table of flags and their environment variables, and raw resolution.

This module is on the cache-hit path of ``gcp2aws credentials``, so it imports only what
Python has already loaded at startup (no ``typing``, ``re``, ``enum`` or ``dataclasses``).
Validation and typed settings live in ``settings``; argparse wiring lives in ``cli``.
"""

from __future__ import annotations

import os

from gcp2aws import envvars, paths
from gcp2aws.idtoken import registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# (dest, flag, environment variable, takes a value, help). The one list both the fast path's
# parser and argparse are built from, so the two can never disagree about what a flag is.
OPTIONS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("role_arn", "--role-arn", envvars.ROLE_ARN, True, "IAM role ARN to assume"),
    (
        "audience",
        "--audience",
        envvars.AUDIENCE,
        True,
        "audience requested for the Google ID token (default: sts.amazonaws.com)",
    ),
    (
        "role_session_name",
        "--role-session-name",
        envvars.ROLE_SESSION_NAME,
        True,
        "STS role session name (default: instance name or service-account name)",
    ),
    (
        "duration_seconds",
        "--duration-seconds",
        envvars.DURATION_SECONDS,
        True,
        "credential lifetime, 900-43200, capped by the role (default: 3600)",
    ),
    (
        "region",
        "--region",
        envvars.REGION,
        True,
        "STS region (default: AWS_REGION, AWS_DEFAULT_REGION, profile, then the partition's)",
    ),
    (
        "session_policy",
        "--session-policy",
        envvars.SESSION_POLICY,
        True,
        "inline session policy: JSON text, or @PATH to read it from a file",
    ),
    (
        "policy_arns",
        "--policy-arns",
        envvars.POLICY_ARNS,
        True,
        "comma-separated managed policy ARNs to scope the session (at most 10)",
    ),
    (
        "chain_role_arns",
        "--chain-role-arn",
        envvars.CHAIN_ROLE_ARNS,
        True,
        "then assume this role with the previous hop's credentials (sts:AssumeRole); repeat "
        "for more hops; the variable is comma-separated",
    ),
    (
        "chain_external_id",
        "--chain-external-id",
        envvars.CHAIN_EXTERNAL_ID,
        True,
        "sts:ExternalId sent on every chained hop",
    ),
    (
        "chain_role_session_name",
        "--chain-role-session-name",
        envvars.CHAIN_ROLE_SESSION_NAME,
        True,
        "session name of the chained hops (default: the first hop's)",
    ),
    (
        "cache_dir",
        "--cache-dir",
        envvars.CACHE_DIR,
        True,
        "cache directory (default: $XDG_CACHE_HOME/gcp2aws or ~/.cache/gcp2aws)",
    ),
    (
        "refresh_window",
        "--refresh-window",
        envvars.REFRESH_WINDOW,
        True,
        "seconds of validity below which cached credentials are refreshed (default: 1200)",
    ),
    (
        "timeout",
        "--timeout",
        envvars.TIMEOUT,
        True,
        "total seconds for one exchange, retries included (default: 30)",
    ),
    (
        "token_source",
        "--token-source",
        envvars.TOKEN_SOURCE,
        True,
        "force a Google token source (default: auto, the first that applies)",
    ),
    (
        "credentials_file",
        "--credentials-file",
        envvars.CREDENTIALS_FILE,
        True,
        "Google credentials JSON (default: GOOGLE_APPLICATION_CREDENTIALS)",
    ),
    (
        "impersonate_service_account",
        "--impersonate-service-account",
        envvars.IMPERSONATE,
        True,
        "mint the ID token as this service account via IAM Credentials generateIdToken",
    ),
    (
        "delegates",
        "--delegates",
        envvars.DELEGATES,
        True,
        "comma-separated delegation chain for --impersonate-service-account",
    ),
    (
        "token_file",
        "--token-file",
        envvars.TOKEN_FILE,
        True,
        "read the OIDC token from this file (re-read on every cache miss)",
    ),
    (
        "token_command",
        "--token-command",
        envvars.TOKEN_COMMAND,
        True,
        "run this command (split like a shell, never through one); its stdout is the token",
    ),
    ("no_cache", "--no-cache", envvars.NO_CACHE, False, "do not read or write the cache"),
    (
        "debug",
        "--debug",
        envvars.DEBUG,
        False,
        "log progress to stderr and show tracebacks (never secrets)",
    ),
)

BY_FLAG = {flag: (dest, env, takes_value) for dest, flag, env, takes_value, _ in OPTIONS}
# Flags that may be given more than once: their values are joined with commas, the form their
# environment variable takes.
REPEATABLE = ("chain_role_arns",)
# The options that make a chain, left out of the first hop's own cache key.
CHAIN_OPTIONS = ("chain_role_arns", "chain_external_id", "chain_role_session_name")
TRUE_WORDS = ("1", "true", "yes", "on")


def resolve_raw(cli: Mapping[str, str | bool | None], environ: Mapping[str, str]) -> dict[str, str]:
    """Flags win over environment variables; absent options are left out.

    Switches resolve to "1" when on. Values are stripped: a trailing newline pasted into an
    environment variable must not change the role we assume or the cache key.
    """
    out: dict[str, str] = {}
    for dest, _flag, env, takes_value, _help in OPTIONS:
        value = cli.get(dest)
        if value is None or value is False:
            value = environ.get(env)
            if value is not None and not takes_value:
                value = "1" if value.strip().lower() in TRUE_WORDS else None
        elif value is True:
            value = "1"
        if value is None:
            continue
        assert isinstance(value, str)  # noqa: S101 - narrowed for mypy, never false
        value = value.strip()
        if value:
            out[dest] = value
    return out


class FlagError(ValueError):
    """A command line the option table does not accept; the text is argparse's reason."""


def parse_flags(argv: list[str], *, abbrev: bool = True) -> dict[str, str | bool | None]:
    """Parse exchange flags as ``gcp2aws credentials`` does, without argparse.

    Raises ``FlagError`` with argparse's wording. ``abbrev`` accepts a unique prefix of a flag
    (argparse does); the fast path passes False and leaves such lines to argparse.
    """
    out: dict[str, str | bool | None] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name not in BY_FLAG and abbrev and name.startswith("--"):
            matches = [flag for flag in BY_FLAG if flag.startswith(name)]
            if len(matches) > 1:
                raise FlagError(f"ambiguous option: {name} could match {', '.join(matches)}")
            name = matches[0] if matches else name
        spec = BY_FLAG.get(name)
        if spec is None:
            raise FlagError("unrecognized arguments: " + " ".join(argv[i:]))
        dest, _env, takes_value = spec
        if not takes_value:
            if eq:
                raise FlagError(f"argument {name}: ignored explicit argument {inline!r}")
            out[dest] = True
        elif eq or (i + 1 < len(argv) and not argv[i + 1].startswith("-")):
            # argparse refuses most values that start with "-" ("--role-arn -x"): so do we,
            # rather than serve from cache what it would reject.
            if not eq:
                i += 1
            value = inline if eq else argv[i]
            previous = out.get(dest)
            repeated = dest in REPEATABLE and isinstance(previous, str)
            out[dest] = f"{previous},{value}" if repeated else value
        else:
            raise FlagError(f"argument {name}: expected one argument")
        i += 1
    return out


def parse_fast(argv: list[str]) -> dict[str, str | bool | None] | None:
    """Parse ``credentials`` flags without argparse; ``None`` means "let argparse do it".

    Anything unusual (help, an unknown flag, a missing value, a positional) returns None, so
    the slow path can give its proper error. Only the common, well-formed case is fast.
    """
    try:
        return parse_flags(argv, abbrev=False)
    except FlagError:
        return None


def _file_stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the path, which no file can have
        return "-"
    return f"{st.st_mtime_ns}:{st.st_size}"


def key_parts(raw: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Everything that can change the credentials an exchange returns, as plain strings.

    Derived from configuration only, never from the network: a cache hit must not probe the
    metadata server. Files are stamped (mtime, size): a key file replaced at the same path, or
    an edited profile in the AWS config file, must not be answered from the old entry.
    Switches and cache settings are left out: they do not change the result.
    """
    skip = ("no_cache", "debug", "cache_dir", "refresh_window", "timeout")
    parts = {f"opt.{k}": v for k, v in raw.items() if k not in skip}
    parts["source"] = registry.configured_source(raw, environ)
    for name in (*envvars.AWS_ENDPOINT_INPUTS, *registry.key_env()):
        value = environ.get(name)
        if value:
            parts[f"env.{name}"] = value
    parts["stamp.aws_config"] = _file_stamp(paths.aws_config_file(environ))
    for part, path in registry.key_files(raw, environ).items():
        parts[part] = _file_stamp(path)
    return parts


def cache_dir(raw: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """The cache directory for these options (see ``paths.cache_dir``)."""
    return paths.cache_dir(raw.get("cache_dir"), environ)


DEFAULT_REFRESH_WINDOW = 1200  # botocore's 15-minute advisory window plus a 5-minute margin


def refresh_window(raw: Mapping[str, str]) -> int:
    """Seconds of validity a cached entry must still have to be served; bad values -> default."""
    value = raw.get("refresh_window")
    if value is None or not (value.isascii() and value.isdigit()):  # isdigit takes '²'
        return DEFAULT_REFRESH_WINDOW
    return int(value)
