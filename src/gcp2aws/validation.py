"""Validate and normalise user input (ARNs, session names, durations...) before any network call."""

from __future__ import annotations

import json
import re

from gcp2aws.errors import ConfigError, UsageError

# The patterns are ASCII-only (IAM and STS are), and are applied with ``fullmatch``: ``$``
# alone would let a trailing newline through, and ``\d`` without re.ASCII any Unicode digit.
# Partitions: aws, aws-cn, aws-us-gov, and the isolated ones (aws-iso, aws-iso-b, aws-eusc...).
_PARTITION = r"aws(?:-[a-z]+)*"
ROLE_ARN_RE = re.compile(
    rf"^arn:(?P<partition>{_PARTITION}):iam::(?P<account>\d{{12}}):role/"
    r"(?P<path>(?:[\x21-\x7e]{1,510}/)?)(?P<name>[\w+=,.@-]{1,64})$",
    re.ASCII,
)
POLICY_ARN_RE = re.compile(
    rf"^arn:{_PARTITION}:iam::(?:\d{{12}}|aws):policy/[\x21-\x7e]{{1,1024}}$", re.ASCII
)
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
REGION_RE = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$", re.ASCII)
_SESSION_BAD_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)

MIN_DURATION, MAX_DURATION = 900, 43200
MAX_SESSION_POLICY_CHARS = 2048
MAX_POLICY_ARNS = 10

# Where STS lives when nothing else says: every partition has regional endpoints only
# (China has no global endpoint), so pick the partition's first region.
PARTITION_DEFAULT_REGION = {
    "aws": "us-east-1",
    "aws-cn": "cn-north-1",
    "aws-us-gov": "us-gov-west-1",
    "aws-iso": "us-iso-east-1",
    "aws-iso-b": "us-isob-east-1",
    "aws-iso-e": "eu-isoe-west-1",
    "aws-iso-f": "us-isof-south-1",
    "aws-eusc": "eusc-de-east-1",
}


def role_arn(value: str) -> str:
    """A role ARN such as ``arn:aws:iam::123456789012:role/path/name``."""
    if not ROLE_ARN_RE.fullmatch(value):
        hint = "Expected arn:PARTITION:iam::ACCOUNT_ID:role/NAME (12-digit account id)"
        if ":user/" in value or ":assumed-role/" in value:
            hint = "Pass the ARN of an IAM role (…:role/NAME), not of a user or a session"
        raise UsageError(f"invalid role ARN {value!r}", hint=hint)
    return value


def partition_of(arn: str) -> str:
    match = ROLE_ARN_RE.fullmatch(arn)
    return match.group("partition") if match else "aws"


def default_region(arn: str) -> str:
    return PARTITION_DEFAULT_REGION.get(partition_of(arn), "us-east-1")


def session_name(value: str) -> str:
    """An explicit --role-session-name must already match STS's pattern; we do not rewrite it."""
    if not SESSION_NAME_RE.fullmatch(value):
        raise UsageError(
            f"invalid role session name {value!r}",
            hint="Use 2-64 characters from letters, digits and +=,.@_-",
        )
    return value


_EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)


def external_id(value: str) -> str:
    if not _EXTERNAL_ID_RE.fullmatch(value):
        raise UsageError(
            "invalid external id",
            hint="STS accepts 2-1224 characters from letters, digits and +=,.@:/-",
        )
    return value


def chain(value: str) -> tuple[str, ...]:
    """The comma-separated hop role ARNs of --chain-role-arn / GCP2AWS_CHAIN_ROLE_ARNS."""
    hops = tuple(part.strip() for part in value.split(",") if part.strip())
    for hop in hops:
        role_arn(hop)
    return hops


def sanitize_session_name(value: str, *, fallback: str = "gcp2aws") -> str:
    """Make a derived name fit STS: replace other characters with '-', cut to 64, pad to 2."""
    cleaned = _SESSION_BAD_CHARS.sub("-", value).strip("-")[:64]
    if len(cleaned) < 2:
        cleaned = (cleaned + "-" + fallback)[:64] if cleaned else fallback
    return cleaned


# int() and float() accept any Unicode digit (full-width, Arabic-Indic...), "_" and spaces; a
# number on a command line or in the environment is ASCII digits only.
_ASCII_INT = re.compile(r"[0-9]{1,12}")  # int() refuses over 4,300 digits: keep far below
MAX_POLICY_TEXT = 1 << 16  # whitespace and all; far above any policy STS would accept
_ASCII_NUMBER = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?|\.[0-9]{1,12}")


def duration(value: str) -> int:
    if not _ASCII_INT.fullmatch(value):
        raise UsageError(f"invalid duration {value!r}", hint="Pass a whole number of seconds")
    seconds = int(value)
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise UsageError(
            f"duration {seconds}s is out of range",
            hint=f"STS accepts {MIN_DURATION}-{MAX_DURATION} seconds, capped by the role's "
            "MaxSessionDuration (default 3600)",
        )
    return seconds


def positive_number(value: str, *, name: str) -> float:
    if not _ASCII_NUMBER.fullmatch(value):
        raise UsageError(f"invalid {name} {value!r}", hint="Pass a number of seconds")
    number = float(value)
    if not 0 < number < 86400:
        raise UsageError(f"{name} {value!r} is out of range", hint="Pass 0 < seconds < 86400")
    return number


def whole_seconds(value: str, *, name: str) -> int:
    if not _ASCII_INT.fullmatch(value) or int(value) > 43200:
        raise UsageError(
            f"invalid {name} {value!r}", hint="Pass a whole number of seconds up to 43200"
        )
    return int(value)


def audience(value: str) -> str:
    if not value or len(value) > 2048 or any(c.isspace() or ord(c) < 32 for c in value):
        raise UsageError(f"invalid audience {value!r}", hint="Use a non-empty value without spaces")
    return value


def region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise UsageError(f"invalid region {value!r}", hint="Expected a region like us-east-1")
    return value


def session_policy(text: str) -> str:
    """A JSON policy document, compacted; checked against STS's 2048-character limit."""
    if len(text) > MAX_POLICY_TEXT:  # before parsing: STS's limit is on the packed form
        raise UsageError(
            f"the session policy is {len(text):,} characters; STS accepts "
            f"{MAX_SESSION_POLICY_CHARS} once packed",
            hint="Move statements into a managed policy and pass it with --policy-arns",
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise UsageError(
            "the session policy is not valid JSON", hint="Pass a JSON policy document"
        ) from exc
    if not isinstance(document, dict) or "Statement" not in document:
        raise UsageError("the session policy has no Statement", hint="Pass an IAM policy document")
    compact = json.dumps(document, separators=(",", ":"))
    if len(compact) > MAX_SESSION_POLICY_CHARS:
        raise UsageError(
            f"the session policy is {len(compact)} characters; STS accepts "
            f"{MAX_SESSION_POLICY_CHARS}",
            hint="Move statements into a managed policy and pass it with --policy-arns",
        )
    return compact


def policy_arns(value: str) -> tuple[str, ...]:
    arns = tuple(a.strip() for a in value.split(",") if a.strip())
    if len(arns) > MAX_POLICY_ARNS:
        raise UsageError(f"{len(arns)} policy ARNs given; STS accepts at most {MAX_POLICY_ARNS}")
    for arn in arns:
        if not POLICY_ARN_RE.fullmatch(arn):
            raise UsageError(
                f"invalid policy ARN {arn!r}", hint="Expected arn:aws:iam::ACCOUNT:policy/NAME"
            )
    return arns


def port(value: str) -> int:
    """A TCP port for ``--port``: ASCII digits, 0-65535 (0: any free port)."""
    if not _ASCII_INT.fullmatch(value) or int(value) > 65535:
        raise ValueError(value)  # argparse: "argument --port: invalid port value: '...'"
    return int(value)


# host, host:port, [v6] or [v6]:port: what google-auth puts between "http://" and the path.
_HOST_PORT = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def metadata_host(value: str, *, name: str) -> str:
    """``GCE_METADATA_HOST`` and friends: a host[:port], never a path, URL or control byte."""
    if not _HOST_PORT.fullmatch(value):
        from gcp2aws.sanitize import for_terminal

        raise ConfigError(
            f"{name}={for_terminal(value, 80)} is not a host or host:port",
            hint=f"Set {name} to HOST or HOST:PORT (e.g. 127.0.0.1:8080), or unset it",
        )
    return value


def endpoint_url(value: str, *, name: str) -> str:
    """``AWS_ENDPOINT_URL(_STS)``: an http(s) URL with a host, as botocore needs it."""
    from urllib.parse import urlsplit

    problem = None
    if len(value) > 2048 or not value.isascii() or not value.isprintable() or " " in value:
        problem = "it holds spaces, control or non-ASCII characters, or is too long"
    else:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            problem = "its port is not a number from 0 to 65535"
        else:
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problem = "it is not an http:// or https:// URL with a host"
    if problem:
        from gcp2aws.sanitize import for_terminal

        raise ConfigError(
            f"{name}={for_terminal(value, 80)} is not a usable endpoint: {problem}",
            hint=f"Set {name} to a URL such as https://sts.us-east-1.amazonaws.com, or unset it",
        )
    return value
