"""Google-specific hints for trust-policy mismatches: which claim AWS compared, what to write."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gcp2aws.policy.evaluate import RequestContext

GOOGLE = "accounts.google.com"
AUD_KEY = f"{GOOGLE}:aud"
OAUD_KEY = f"{GOOGLE}:oaud"
SUB_KEY = f"{GOOGLE}:sub"
SESSION_KEY = "sts:RoleSessionName"
SOURCE_IP_KEY = "aws:SourceIp"
GOOGLE_KEYS = (AUD_KEY, OAUD_KEY, SUB_KEY)

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UNIQUE_ID_RE = re.compile(r"\d{10,30}")
_OIDC_ARN_RE = re.compile(r"arn:[\w-]+:iam::\d*:oidc-provider/(.+)")


def quote_values(values: Sequence[str]) -> str:
    """'a' for one value, "one of 'a', 'b'" for several."""
    if not values:
        return "no value"
    quoted = ", ".join(repr(v) for v in values)
    return quoted if len(values) == 1 else f"one of {quoted}"


def is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value) is not None


def is_unique_id(value: str) -> bool:
    return _UNIQUE_ID_RE.fullmatch(value) is not None


def condition_subject(key: str, context: RequestContext) -> str:
    """What the request value of ``key`` is, in the user's terms ("your token's azp")."""
    lowered = key.lower()
    if lowered == AUD_KEY:
        claim = context.claim_source(AUD_KEY) or "azp"
        return f"your token's {claim}"
    if lowered == OAUD_KEY:
        return "your token's aud"
    if lowered == SUB_KEY:
        return "your token's sub"
    if lowered == SESSION_KEY.lower():
        return "the session name"
    if lowered == SOURCE_IP_KEY.lower():
        return "the source IP"
    return f"the request's {key}"


def condition_note(
    key: str, wanted: Sequence[str], actual: Sequence[str] | None, context: RequestContext
) -> str:
    """The hint after the facts: why the values differ and what to write instead."""
    lowered = key.lower()
    if lowered == AUD_KEY:
        return _aud_note(wanted, actual, context)
    if lowered == OAUD_KEY:
        return _oaud_note(wanted, actual, context)
    if lowered == SUB_KEY:
        return _sub_note(wanted, actual)
    if lowered == SESSION_KEY.lower():
        return (
            f"Pass a role session name that matches {quote_values(wanted)}, "
            "or change the pattern in the policy."
        )
    if lowered.startswith(f"{GOOGLE}:"):
        note = (
            f"AWS sets only {', '.join(GOOGLE_KEYS)} for Google tokens; {key} is never in the "
            "request."
        )
        if lowered == f"{GOOGLE}:email":
            note += (
                f" Bind the service account with {AUD_KEY} (its unique ID, or its email for "
                "key-file tokens) instead."
            )
        return note
    if not actual:
        if lowered == SOURCE_IP_KEY.lower():
            return "No source IP was given to this local check."
        return (
            f"{key} is not in the request context; add IfExists to the operator if the check "
            "should pass when the key is absent."
        )
    return ""


def _aud_note(wanted: Sequence[str], actual: Sequence[str] | None, context: RequestContext) -> str:
    if context.claim_source(AUD_KEY) == "aud":
        note = (
            f"The token has no azp claim, so AWS compares {AUD_KEY} with its aud; Google tokens "
            "carry azp, so check where this token comes from."
        )
    else:
        note = (
            f"{AUD_KEY} is compared with azp (the service account's unique ID on GCE, "
            "its email with a key file)."
        )
    azp = actual[0] if actual else ""
    oaud = context.get(OAUD_KEY) or ()
    misplaced = [w for w in wanted if w in oaud]
    if misplaced:
        return f"{note} Put {misplaced[0]!r} under {OAUD_KEY} instead."
    if azp and is_unique_id(azp) and any(is_email(w) for w in wanted):
        email = context.claims.get("email", "")
        whose = f" of {email}" if email and email in wanted else ""
        return (
            f"{note} This token's azp is the numeric unique ID{whose} (metadata server, "
            f"impersonation, GKE): use {azp!r} instead of the email."
        )
    if azp and is_email(azp) and any(is_unique_id(w) for w in wanted):
        return (
            f"{note} This token came from a service-account key file, whose azp is the email: "
            f"use {azp!r}, or get the token from the metadata server or by impersonation."
        )
    if azp:
        return f"{note} To trust this service account, use {azp!r}."
    return note


def _oaud_note(wanted: Sequence[str], actual: Sequence[str] | None, context: RequestContext) -> str:
    note = f"{OAUD_KEY} is compared with aud, the audience the workload requested."
    azp = context.get(AUD_KEY) or ()
    misplaced = [w for w in wanted if w in azp]
    if misplaced:
        return f"{note} {misplaced[0]!r} is the token's azp: it belongs under {AUD_KEY}."
    if actual and wanted:
        return (
            f"{note} Request the audience {wanted[0]!r} (--audience), or put {actual[0]!r} in "
            "the policy."
        )
    return note


def _sub_note(wanted: Sequence[str], actual: Sequence[str] | None) -> str:
    note = f"{SUB_KEY} is the service account's numeric unique ID"
    if actual and any(is_email(w) for w in wanted):
        return f"{note}, not its email: use {actual[0]!r}."
    if actual:
        return f"{note}: use {actual[0]!r} to trust this service account."
    return f"{note}."


def principal_note(listed: Sequence[str], kinds: Sequence[str], request_principal: str) -> str:
    """Why a Principal block does not name the Google built-in provider, and the fix."""
    fix = f'use "Principal": {{"Federated": "{request_principal}"}}'
    if request_principal.startswith("arn:"):  # another issuer, e.g. a Kubernetes cluster's
        return (
            f"Tokens of this issuer are federated by the IAM OIDC provider "
            f"{request_principal}: {fix}."
        )
    for value in listed:
        match = _OIDC_ARN_RE.fullmatch(value)
        if match and match.group(1).rstrip("/") == request_principal:
            return (
                f"{value!r} is an IAM OIDC provider ARN, but AWS trusts Google through its "
                f"built-in provider: {fix} (no IAM OIDC provider is needed)."
            )
        if value.lower() in (f"https://{request_principal}", f"{request_principal}/"):
            return f"Write the provider without scheme or slash: {fix}."
    if kinds and "Federated" not in kinds:
        return (
            f"{'/'.join(kinds)} principals are AWS accounts, roles or services, not a web "
            f"identity: {fix}."
        )
    return f"Tokens from Google are federated by {request_principal}: {fix}."


def action_note(listed: Sequence[str], request_action: str) -> str:
    if any(a.lower() in ("sts:assumerole", "sts:assumerolewithsaml") for a in listed):
        return (
            f"{listed[0]!r} is for other kinds of callers; web identity tokens call "
            f'{request_action}: use "Action": "{request_action}".'
        )
    return f'Web identity tokens call {request_action}: use "Action": "{request_action}".'
