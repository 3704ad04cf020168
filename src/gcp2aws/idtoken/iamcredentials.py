"""The IAM Credentials ``generateIdToken`` call: an ID token minted as a service account.

google-auth's ``impersonated_credentials.IDTokenCredentials`` would need ``requests`` and has
no endpoint override, so we make this one POST ourselves (with the source credentials' access
token) and can explain a 403 precisely.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gcp2aws import envvars
from gcp2aws.errors import TokenUnavailableError
from gcp2aws.idtoken.gauth import DeadlinePool
from gcp2aws.retry import backoff_delays, sleep_within

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://iamcredentials.googleapis.com"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 4
OPENID_PERMISSION = "iam.serviceAccounts.getOpenIdToken"
OPENID_ROLE = "roles/iam.serviceAccountOpenIdTokenCreator"


def endpoint(environ: Mapping[str, str], default: str = DEFAULT_ENDPOINT) -> str:
    """The IAM Credentials API root: GCP2AWS_IAM_CREDENTIALS_ENDPOINT, else ``default``."""
    return (environ.get(envvars.IAM_CREDENTIALS_ENDPOINT) or default).rstrip("/")


def _error_doc(body: bytes) -> tuple[str, str, str]:
    """(status name, message, ErrorInfo reason) of a Google API error body, best effort."""
    try:
        doc = json.loads(body)
        error = doc["error"]
        details = error.get("details") or []
        reason = next(
            (str(d.get("reason", "")) for d in details if isinstance(d, dict) and "reason" in d),
            "",
        )
        return str(error.get("status", "")), str(error.get("message", "")), reason
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", body[:120].decode("utf-8", "replace").strip(), ""


def _failure(
    status: int, body: bytes, *, source: str, target: str, caller: str, delegates: Sequence[str]
) -> TokenUnavailableError:
    name, message, reason = _error_doc(body)
    who = caller or "the calling identity"
    if status == 403 and reason == "SERVICE_DISABLED":
        return TokenUnavailableError(
            f"{source}: the IAM Service Account Credentials API is disabled in the caller's "
            "project",
            hint="Run `gcloud services enable iamcredentials.googleapis.com`",
        )
    if status == 403:
        hop = delegates[0] if delegates else target
        return TokenUnavailableError(
            f"{source}: permission {OPENID_PERMISSION} missing on SA {target}"
            + (f" (through delegates {','.join(delegates)})" if delegates else ""),
            hint=f"Grant {OPENID_ROLE} (or roles/iam.serviceAccountTokenCreator) to {who} on "
            f"{hop}, and check that the service account exists",
        )
    if status == 401:
        return TokenUnavailableError(
            f"{source}: IAM Credentials rejected the source credentials of {who} (HTTP 401"
            + (f" {name}" if name else "")
            + ")",
            hint="Refresh them: run `gcloud auth application-default login`",
        )
    if status == 404:
        return TokenUnavailableError(
            f"{source}: service account {target} not found (HTTP 404)",
            hint="Check --impersonate-service-account",
        )
    return TokenUnavailableError(
        f"{source}: generateIdToken for {target} answered HTTP {status}"
        + (f": {message[:160]}" if message else ""),
        hint="Check the service account, --delegates and --audience",
        transient=status in RETRY_STATUSES,
    )


def generate_id_token(
    access_token: str,
    target: str,
    *,
    audience: str,
    delegates: Sequence[str],
    api_root: str,
    pool: DeadlinePool,
    source: str,
    caller: str = "",
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> str:
    """POST ``:generateIdToken`` (includeEmail) as ``target``; returns the raw token."""
    import urllib3

    url = f"{api_root}/v1/projects/-/serviceAccounts/{quote(target, safe='@')}:generateIdToken"
    body: dict[str, Any] = {"audience": audience, "includeEmail": True}
    if delegates:
        body["delegates"] = [f"projects/-/serviceAccounts/{d}" for d in delegates]
    payload = json.dumps(body).encode("utf-8")
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Content-Type": "application/json",
        "User-Agent": "gcp2aws",
    }
    delays = backoff_delays(base=0.2, rng=rng)
    failure: TokenUnavailableError | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            resp = pool.request("POST", url, body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            failure = TokenUnavailableError(
                f"{source}: cannot reach IAM Credentials at {api_root} ({type(exc).__name__})",
                hint="Check network access and proxy settings (HTTPS_PROXY, NO_PROXY)",
                transient=True,
            )
        else:
            if resp.status == 200:
                try:
                    token = json.loads(resp.data)["token"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise TokenUnavailableError(
                        f"{source}: generateIdToken answered without a token",
                        hint="Check GCP2AWS_IAM_CREDENTIALS_ENDPOINT",
                    ) from exc
                if not isinstance(token, str):
                    raise TokenUnavailableError(f"{source}: generateIdToken token is not text")
                return token
            failure = _failure(
                resp.status,
                resp.data,
                source=source,
                target=target,
                caller=caller,
                delegates=delegates,
            )
        if not failure.transient or attempt == MAX_ATTEMPTS:
            break
        log.debug("generateIdToken attempt %d failed: %s", attempt, failure.message)
        if not sleep_within(pool.deadline, next(delays), sleep):
            break
    assert failure is not None  # noqa: S101 - the loop ran at least once
    raise failure
