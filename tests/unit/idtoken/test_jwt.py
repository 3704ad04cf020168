"""Unit tests for gcp2aws.idtoken.jwt (unverified decoding, freshness, audience) and IdToken."""

from __future__ import annotations

import base64
import json

import pytest

from gcp2aws.emulator.signer import Signer
from gcp2aws.errors import TokenInvalidError
from gcp2aws.idtoken import jwt
from gcp2aws.idtoken.base import default_session_name
from gcp2aws.models import IdToken

NOW = 1_800_000_000
SIGNER = Signer()


def claims(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "https://accounts.google.com",
        "aud": "sts.amazonaws.com",
        "azp": "112233445566778899001",
        "sub": "112233445566778899001",
        "email": "my-sa@proj.iam.gserviceaccount.com",
        "iat": NOW,
        "exp": NOW + 3600,
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_decode_signed_token() -> None:
    raw = SIGNER.sign(claims())
    token = jwt.decode_unverified(raw + "\n", source="test")
    assert token.raw == raw  # surrounding whitespace stripped
    assert token.header["alg"] == "RS256"
    assert token.aud == "sts.amazonaws.com"
    assert token.azp == token.sub == "112233445566778899001"
    assert token.aws_aud == token.azp
    assert token.email == "my-sa@proj.iam.gserviceaccount.com"
    assert token.issuer == "https://accounts.google.com"
    assert (token.issued_at, token.expires_at) == (NOW, NOW + 3600)
    assert token.source == "test"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty token"),
        ("   \n", "empty token"),
        ("<!DOCTYPE html><html><body>Error</body></html>", r"not a JWT \(HTML\)"),
        ("a.b", "not a JWT"),
        ("a.b.c.d", "not a JWT"),
        (".b.c", "not a JWT"),
        ("a b.c.d", "not a JWT"),
        ("!!!.@@@.sig", "not base64url-encoded JSON"),
        (f"{b64({'alg': 'RS256'})}.{b64([1, 2])}.sig", "claims is not a JSON object"),
        (f"{b64('str')}.{b64({'a': 1})}.sig", "header is not a JSON object"),
        ("x" * 20001, "at most 20000"),
    ],
)
def test_decode_rejects_junk(raw: str, message: str) -> None:
    with pytest.raises(TokenInvalidError, match=message) as info:
        jwt.decode_unverified(raw, source="test")
    # Never echo what we were given: it could be a token.
    if len(raw) > 10:
        assert raw not in str(info.value)


def test_check_fresh() -> None:
    token = jwt.decode_unverified(SIGNER.sign(claims()), source="t")
    jwt.check_fresh(token, now=NOW)
    # Within the clock leeway: still accepted.
    jwt.check_fresh(token, now=NOW + 3600 + jwt.CLOCK_LEEWAY - 1)
    with pytest.raises(TokenInvalidError, match="expired"):
        jwt.check_fresh(token, now=NOW + 3600 + jwt.CLOCK_LEEWAY)
    with pytest.raises(TokenInvalidError, match="expired"):
        jwt.check_fresh(token, now=NOW, min_remaining=3600 + jwt.CLOCK_LEEWAY)


def test_check_fresh_needs_exp() -> None:
    token = jwt.decode_unverified(SIGNER.sign(claims(exp=None)), source="t")
    with pytest.raises(TokenInvalidError, match="no exp"):
        jwt.check_fresh(token, now=NOW)
    weird = jwt.decode_unverified(SIGNER.sign(claims(exp=True)), source="t")
    assert weird.expires_at is None


def test_check_audience() -> None:
    token = jwt.decode_unverified(SIGNER.sign(claims()), source="t")
    jwt.check_audience(token, "sts.amazonaws.com")
    with pytest.raises(TokenInvalidError, match="not the requested 'other'"):
        jwt.check_audience(token, "other")
    listed = jwt.decode_unverified(SIGNER.sign(claims(aud=["a", "sts.amazonaws.com"])), source="t")
    jwt.check_audience(listed, "sts.amazonaws.com")
    assert listed.aud == "a,sts.amazonaws.com"


def test_aws_aud_falls_back_to_aud_without_azp() -> None:
    token = jwt.decode_unverified(SIGNER.sign(claims(azp=None)), source="t")
    assert token.azp == ""
    assert token.aws_aud == "sts.amazonaws.com"


def test_repr_and_describe_hide_the_raw_token() -> None:
    raw = SIGNER.sign(claims())
    token = jwt.decode_unverified(raw, source="t")
    assert raw not in repr(token)
    assert raw.split(".")[2] not in repr(token)
    described = token.describe()
    assert described == (
        "azp=112233445566778899001 aud=sts.amazonaws.com sub=112233445566778899001 "
        "email=my-sa@proj.iam.gserviceaccount.com"
    )
    assert IdToken(raw="x", header={}, claims={}).describe() == "azp=- aud=- sub=-"


def test_default_session_name_prefers_instance_name() -> None:
    gce = {"google": {"compute_engine": {"instance_name": "web-1"}}}
    assert default_session_name(IdToken("r", {}, claims(**gce))) == "web-1"
    assert default_session_name(IdToken("r", {}, claims())) == "my-sa"
    assert default_session_name(IdToken("r", {}, {"sub": "1234"})) == "1234"
    assert default_session_name(IdToken("r", {}, {})) == "gcp2aws"


def test_default_session_name_is_sanitized() -> None:
    odd = {"google": {"compute_engine": {"instance_name": "vm with spaces/and:colons" + "x" * 80}}}
    name = default_session_name(IdToken("r", {}, claims(**odd)))
    assert name.startswith("vm-with-spaces-and-colons")
    assert len(name) == 64
    one_char = default_session_name(IdToken("r", {}, claims(email="a@example.com")))
    assert one_char == "a-gcp2aws"
