"""models: claims read defensively, secrets kept out of repr."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gcp2aws.models import AwsCredentials, IdToken


def token(**claims: object) -> IdToken:
    return IdToken(raw="eyJ.secret.sig", header={"alg": "RS256"}, claims=claims)


def test_aws_aud_is_azp_when_present_else_aud() -> None:
    assert token(azp="123", aud="sts.amazonaws.com").aws_aud == "123"
    assert token(aud="sts.amazonaws.com").aws_aud == "sts.amazonaws.com"


def test_list_audience_is_joined_and_non_strings_are_empty() -> None:
    assert token(aud=["a", "b"]).aud == "a,b"
    assert token(aud=7, sub=None).aud == ""
    assert token(sub=None).sub == ""


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1700000000", True, None])
def test_hostile_date_claims_are_none_not_a_crash(value: object) -> None:
    assert token(exp=value).expires_at is None


def test_finite_date_claims_are_whole_seconds() -> None:
    assert token(exp=1700000000.9, iat=1699996400).expires_at == 1700000000
    assert token(iat=1699996400).issued_at == 1699996400


def test_instance_name_only_from_the_gce_claim_shape() -> None:
    full = token(google={"compute_engine": {"instance_name": "vm-1"}})
    assert full.instance_name == "vm-1"
    assert token(google={"compute_engine": "vm-1"}).instance_name == ""
    assert token(google="x").instance_name == ""


def test_describe_names_claims_but_never_the_raw_token() -> None:
    t = token(azp="123", aud="sts.amazonaws.com", sub="123", email="sa@p.iam.gserviceaccount.com")
    assert (
        t.describe() == "azp=123 aud=sts.amazonaws.com sub=123 email=sa@p.iam.gserviceaccount.com"
    )
    assert "secret" not in repr(t)


def test_credentials_repr_hides_secrets_and_key_id_is_redacted() -> None:
    creds = AwsCredentials(
        access_key_id="ASIAABCDEFGHIJKLMNOP",
        secret_access_key="s3cr3t",
        session_token="t0k3n",
        expiration=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    assert "s3cr3t" not in repr(creds)
    assert "t0k3n" not in repr(creds)
    assert creds.redacted_key_id() == "ASIA****MNOP"
    assert creds.remaining(creds.expires_epoch - 60) == 60
    short = AwsCredentials("ASIA", "s", "t", datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert short.redacted_key_id() == "****"


def test_describe_escapes_claims_that_would_forge_a_log_line_or_move_the_cursor() -> None:
    text = token(azp="1", sub="1\ngcp2aws: error: forged", email="a\x1b[2J@b").describe()
    assert "\n" not in text
    assert "\x1b" not in text
    assert "sub=1\\x0agcp2aws: error: forged" in text
