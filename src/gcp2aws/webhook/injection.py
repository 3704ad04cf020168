"""What a ServiceAccount's ``gcp2aws.io/*`` annotations ask for, and how a Pod may narrow it.

The ServiceAccount decides (role, mode, audience, region); the Pod can only opt out as a whole
(``gcp2aws.io/inject: "false"``) or leave some containers alone
(``gcp2aws.io/skip-containers``): a Pod's author must not be able to pick another role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gcp2aws import sanitize, settings, validation
from gcp2aws.errors import UsageError

PREFIX = "gcp2aws.io/"
ROLE_ARN = PREFIX + "role-arn"
AUDIENCE = PREFIX + "audience"
REGION = PREFIX + "region"
STS_REGIONAL_ENDPOINTS = PREFIX + "sts-regional-endpoints"
MODE = PREFIX + "mode"
DURATION_SECONDS = PREFIX + "duration-seconds"
TOKEN_EXPIRATION = PREFIX + "token-expiration"
SKIP_CONTAINERS = PREFIX + "skip-containers"
INJECT = PREFIX + "inject"
# Set by the webhook on a Pod it mutated: the mode, for people and for `kubectl get -o yaml`.
INJECTED = PREFIX + "injected"

SERVICE_ACCOUNT_KEYS = (
    ROLE_ARN,
    AUDIENCE,
    REGION,
    STS_REGIONAL_ENDPOINTS,
    MODE,
    DURATION_SECONDS,
    TOKEN_EXPIRATION,
)
# Only the ServiceAccount may set these: on a Pod they are ignored, with a warning.
POD_IGNORED_KEYS = SERVICE_ACCOUNT_KEYS

MODES = ("sidecar", "endpoint", "projected")
DEFAULT_MODE = "sidecar"
DEFAULT_AUDIENCE = settings.DEFAULT_AUDIENCE
# Projected token lifetime: the kubelet rotates at 80% of it. The API server's minimum is
# 600 s; 86400 is what the EKS pod identity webhook uses.
DEFAULT_TOKEN_EXPIRATION = 86400
MIN_TOKEN_EXPIRATION = 600
MAX_TOKEN_EXPIRATION = 1 << 32  # the API server's own cap is lower; it clamps, never fails
STS_ENDPOINT_WORDS = {
    "true": "regional",
    "regional": "regional",
    "false": "legacy",
    "legacy": "legacy",
}
T = TypeVar("T")
_CONTAINER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)


class InvalidAnnotationError(ValueError):
    """An annotation's value cannot be used; the message names the annotation and the fix."""


@dataclass(frozen=True)
class Injection:
    """The resolved request of one ServiceAccount."""

    role_arn: str
    mode: str = DEFAULT_MODE
    audience: str = DEFAULT_AUDIENCE
    region: str | None = None
    sts_regional_endpoints: str | None = None
    duration_seconds: int | None = None
    token_expiration: int = DEFAULT_TOKEN_EXPIRATION


def from_service_account(
    annotations: Mapping[str, str], *, default_region: str | None = None
) -> Injection | None:
    """The Injection a ServiceAccount's annotations ask for; ``None`` without a role ARN."""
    raw_role = annotations.get(ROLE_ARN)
    if raw_role is None:
        return None
    role_arn = _checked(ROLE_ARN, raw_role.strip(), validation.role_arn)
    mode = annotations.get(MODE, DEFAULT_MODE).strip().lower()
    if mode not in MODES:
        raise InvalidAnnotationError(
            f"{MODE} {_shown(mode)} is not one of {', '.join(MODES)}: fix the ServiceAccount"
        )
    audience = _checked(
        AUDIENCE, annotations.get(AUDIENCE, DEFAULT_AUDIENCE).strip(), validation.audience
    )
    region = annotations.get(REGION, default_region or "").strip() or None
    if region is not None:
        region = _checked(REGION, region, validation.region)
    endpoints = annotations.get(STS_REGIONAL_ENDPOINTS)
    sts_endpoints = None
    if endpoints is not None:
        sts_endpoints = STS_ENDPOINT_WORDS.get(endpoints.strip().lower())
        if sts_endpoints is None:
            raise InvalidAnnotationError(
                f"{STS_REGIONAL_ENDPOINTS} {_shown(endpoints)} is not true, false, regional "
                "or legacy: fix the ServiceAccount"
            )
    duration = annotations.get(DURATION_SECONDS)
    duration_seconds = None
    if duration is not None:
        duration_seconds = _checked(DURATION_SECONDS, duration.strip(), validation.duration)
    return Injection(
        role_arn=role_arn,
        mode=mode,
        audience=audience,
        region=region,
        sts_regional_endpoints=sts_endpoints,
        duration_seconds=duration_seconds,
        token_expiration=_token_expiration(annotations.get(TOKEN_EXPIRATION)),
    )


def warnings_for(injection: Injection, pod_annotations: Mapping[str, str]) -> list[str]:
    """What the Pod's author should know: ignored annotations, options the mode cannot use."""
    warnings = [
        f"gcp2aws: the Pod's {key} annotation is ignored: only the ServiceAccount's counts"
        for key in POD_IGNORED_KEYS
        if key in pod_annotations
    ]
    if injection.duration_seconds is not None and injection.mode != "endpoint":
        warnings.append(
            f"gcp2aws: {DURATION_SECONDS} is ignored in {injection.mode} mode: the SDKs' "
            "web-identity path cannot send DurationSeconds (use gcp2aws.io/mode: endpoint)"
        )
    return warnings


def opted_out(pod_annotations: Mapping[str, str]) -> bool:
    """``gcp2aws.io/inject: "false"`` on the Pod; any other value than true/false is an error."""
    value = pod_annotations.get(INJECT)
    if value is None:
        return False
    word = value.strip().lower()
    if word not in ("true", "false"):
        raise InvalidAnnotationError(
            f'the Pod\'s {INJECT} {_shown(value)} is not "true" or "false"'
        )
    return word == "false"


def skipped_containers(pod_annotations: Mapping[str, str]) -> frozenset[str]:
    """Container names listed in ``gcp2aws.io/skip-containers`` (comma-separated)."""
    value = pod_annotations.get(SKIP_CONTAINERS, "")
    names = frozenset(part.strip() for part in value.split(",") if part.strip())
    bad = sorted(name for name in names if not _CONTAINER_NAME.fullmatch(name))
    if bad:
        raise InvalidAnnotationError(
            f"the Pod's {SKIP_CONTAINERS} holds {_shown(bad[0])}, which is not a container "
            "name: list names separated by commas"
        )
    return names


def _token_expiration(value: str | None) -> int:
    if value is None:
        return DEFAULT_TOKEN_EXPIRATION
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise InvalidAnnotationError(
            f"{TOKEN_EXPIRATION} {_shown(value)} is not a whole number of seconds"
        )
    seconds = int(text)
    if not MIN_TOKEN_EXPIRATION <= seconds <= MAX_TOKEN_EXPIRATION:
        raise InvalidAnnotationError(
            f"{TOKEN_EXPIRATION} {seconds} is out of range: the API server accepts "
            f"{MIN_TOKEN_EXPIRATION} seconds or more"
        )
    return seconds


def _checked(key: str, value: str, check: Callable[[str], T]) -> T:
    """``check(value)``, with the validator's complaint reworded to name the annotation."""
    try:
        return check(value)
    except UsageError as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise InvalidAnnotationError(
            f"{key} {_shown(value)} is invalid{hint}: fix the ServiceAccount"
        ) from None


def _shown(value: str) -> str:
    """A foreign value, quoted, escaped and cut short, safe to echo in a warning or a log."""
    return '"' + sanitize.for_terminal(value, limit=80) + '"'
