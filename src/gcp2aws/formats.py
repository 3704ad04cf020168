"""Wire formats for credentials, one serializer each; Expiration is always RFC 3339 UTC with Z."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from gcp2aws.errors import Gcp2AwsError
from gcp2aws.models import AwsCredentials


def rfc3339(moment: datetime) -> str:
    """``2026-11-28T23:59:34Z``: what the Go and Rust SDKs and fluent-bit accept."""
    # isoformat, not strftime: strftime("%Y") does not pad years before 1000 to four digits.
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0)
    return utc.isoformat() + "Z"


def parse_rfc3339(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:  # Overflow: year 9999 with a negative offset
        raise Gcp2AwsError(f"invalid timestamp {text!r}") from exc


def _document(creds: AwsCredentials, token_key: str) -> dict[str, Any]:
    """The fields both wire formats share, in their order; they differ in the token's key."""
    doc: dict[str, Any] = {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        token_key: creds.session_token,
        "Expiration": rfc3339(creds.expiration),
    }
    if creds.account_id:
        doc["AccountId"] = creds.account_id
    return doc


def credential_process(creds: AwsCredentials) -> str:
    """The credential_process document: one JSON object and a newline, nothing else."""
    return json.dumps({"Version": 1, **_document(creds, "SessionToken")}) + "\n"


def from_credential_process(text: str | bytes, *, source: str = "cache") -> AwsCredentials:
    """Inverse of ``credential_process`` (used to read cache entries outside the hot path)."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("Version") != 1:
            raise ValueError("not a Version 1 document")
        return AwsCredentials(
            access_key_id=str(doc["AccessKeyId"]),
            secret_access_key=str(doc["SecretAccessKey"]),
            session_token=str(doc["SessionToken"]),
            expiration=parse_rfc3339(str(doc["Expiration"])),
            account_id=doc.get("AccountId"),
            source=source,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Gcp2AwsError("not a credential_process document") from exc


def container_endpoint(creds: AwsCredentials) -> str:
    """The container (ECS) credentials endpoint document: note ``Token``, not SessionToken."""
    return json.dumps(_document(creds, "Token"))
