"""Validate and normalise user input (ARNs, session names, durations...) before any network call."""

from __future__ import annotations

import json
import re

from gcp2aws.errors import UsageError

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


def sanitize_session_name(value: str, *, fallback: str = "gcp2aws") -> str:
    """Make a derived name fit STS: replace other characters with '-', cut to 64, pad to 2."""
    cleaned = _SESSION_BAD_CHARS.sub("-", value).strip("-")[:64]
    if len(cleaned) < 2:
        cleaned = (cleaned + "-" + fallback)[:64] if cleaned else fallback
    return cleaned


def duration(value: str) -> int:
    try:
        seconds = int(value)
    except ValueError as exc:
        raise UsageError(
            f"invalid duration {value!r}", hint="Pass a whole number of seconds"
        ) from exc
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise UsageError(
            f"duration {seconds}s is out of range",
            hint=f"STS accepts {MIN_DURATION}-{MAX_DURATION} seconds, capped by the role's "
            "MaxSessionDuration (default 3600)",
        )
    return seconds


def positive_number(value: str, *, name: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise UsageError(f"invalid {name} {value!r}", hint="Pass a number of seconds") from exc
    if not 0 < number < 86400:
        raise UsageError(f"{name} {value!r} is out of range", hint="Pass 0 < seconds < 86400")
    return number


def whole_seconds(value: str, *, name: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > 43200:
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
    try:
        document = json.loads(text)
    except ValueError as exc:
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
