"""Unit tests for gcp2aws.formats and the AwsCredentials model: wire formats and Expiration."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from gcp2aws import formats
from gcp2aws.errors import Gcp2AwsError
from gcp2aws.models import AwsCredentials

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def make_creds(**overrides: object) -> AwsCredentials:
    values: dict[str, object] = {
        "access_key_id": "ASIAEXAMPLEKEY123456",
        "secret_access_key": "secret/KEY+value",
        "session_token": "session-token-value",
        "expiration": datetime(2026, 11, 28, 23, 59, 34, 987654, tzinfo=timezone.utc),
        "account_id": "123456789012",
        "assumed_role_arn": "arn:aws:sts::123456789012:assumed-role/r/s",
    }
    values.update(overrides)
    return AwsCredentials(**values)  # type: ignore[arg-type]


def test_rfc3339_is_utc_with_z_and_no_fraction() -> None:
    moment = datetime(2026, 11, 29, 8, 59, 34, 500000, tzinfo=timezone(timedelta(hours=9)))
    assert formats.rfc3339(moment) == "2026-11-28T23:59:34Z"


def test_parse_rfc3339_round_trip() -> None:
    parsed = formats.parse_rfc3339("2026-11-28T23:59:34Z")
    assert parsed == datetime(2026, 11, 28, 23, 59, 34, tzinfo=timezone.utc)
    assert formats.parse_rfc3339("2026-11-29T08:59:34+09:00") == parsed
    # No offset: taken as UTC rather than crashing like botocore would.
    assert formats.parse_rfc3339("2026-11-28T23:59:34") == parsed
    with pytest.raises(Gcp2AwsError, match="invalid timestamp"):
        formats.parse_rfc3339("tomorrow")


def test_credential_process_document() -> None:
    text = formats.credential_process(make_creds())
    assert text.endswith("}\n")
    assert text.count("\n") == 1
    doc = json.loads(text)
    assert doc == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLEKEY123456",
        "SecretAccessKey": "secret/KEY+value",
        "SessionToken": "session-token-value",
        "Expiration": "2026-11-28T23:59:34Z",
        "AccountId": "123456789012",
    }
    assert type(doc["Version"]) is int
    assert RFC3339_Z.match(doc["Expiration"])


def test_credential_process_without_account() -> None:
    doc = json.loads(formats.credential_process(make_creds(account_id=None)))
    assert "AccountId" not in doc


def test_from_credential_process_round_trip() -> None:
    creds = make_creds()
    back = formats.from_credential_process(formats.credential_process(creds).encode())
    assert back.access_key_id == creds.access_key_id
    assert back.secret_access_key == creds.secret_access_key
    assert back.session_token == creds.session_token
    assert back.expiration == creds.expiration.replace(microsecond=0)
    assert back.account_id == "123456789012"
    assert back.source == "cache"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"not json",
        b"[]",
        b'{"Version": 2, "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c",'
        b' "Expiration": "2026-11-28T23:59:34Z"}',
        b'{"Version": "1", "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c",'
        b' "Expiration": "2026-11-28T23:59:34Z"}',
        b'{"Version": 1, "AccessKeyId": "a"}',
        b'{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c",'
        b' "Expiration": "never"}',
    ],
)
def test_from_credential_process_rejects(text: bytes) -> None:
    with pytest.raises(Gcp2AwsError, match=r"credential_process document|invalid timestamp"):
        formats.from_credential_process(text)


def test_container_endpoint_uses_token_key() -> None:
    doc = json.loads(formats.container_endpoint(make_creds()))
    assert doc["Token"] == "session-token-value"
    assert "SessionToken" not in doc
    assert "Version" not in doc
    assert doc["Expiration"] == "2026-11-28T23:59:34Z"
    assert doc["AccountId"] == "123456789012"


def test_credentials_repr_hides_secrets() -> None:
    creds = make_creds()
    text = repr(creds)
    assert "secret/KEY+value" not in text
    assert "session-token-value" not in text
    assert "ASIAEXAMPLEKEY123456" in text


def test_credentials_helpers() -> None:
    creds = make_creds(expiration=datetime.fromtimestamp(2_000_000_000, tz=timezone.utc))
    assert creds.expires_epoch == 2_000_000_000
    assert creds.remaining(1_999_999_000) == 1000
    assert creds.redacted_key_id() == "ASIA****3456"
    assert make_creds(access_key_id="short").redacted_key_id() == "****"
