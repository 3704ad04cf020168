"""Fuzz ID-token decoding: only TokenInvalidError escapes, and encoded claims decode back."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from gcp2aws.errors import TokenInvalidError
from gcp2aws.idtoken.base import default_session_name
from gcp2aws.idtoken.jwt import MAX_TOKEN_CHARS, check_audience, check_fresh, decode_unverified
from gcp2aws.validation import SESSION_NAME_RE

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
claim_sets = st.dictionaries(
    st.one_of(
        st.sampled_from(["aud", "azp", "sub", "email", "exp", "iat", "iss", "google"]),
        st.text(max_size=8),
    ),
    json_values,
    max_size=8,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


b64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
segments = st.one_of(
    st.text(alphabet=b64_alphabet, max_size=40),
    json_values.map(segment),
    st.binary(max_size=30).map(b64),
    st.text(max_size=10),
)
token_texts = st.one_of(
    st.text(max_size=200),
    st.lists(segments, min_size=1, max_size=5).map(".".join),
    st.builds(lambda h, c, s: f"{h}.{c}.{s}", segments, segments, segments),
)


def _one_line(exc: TokenInvalidError) -> None:
    assert "\n" not in exc.one_line()


def _check_decoded(raw: str) -> None:
    try:
        token = decode_unverified(raw, source="fuzz")
    except TokenInvalidError as exc:
        _one_line(exc)
        return
    # Whatever decodes is usable by everything downstream without another exception type.
    assert token.raw == raw.strip()
    token.describe()
    _ = (token.azp, token.aud, token.aws_aud, token.sub, token.email, token.instance_name)
    _ = (token.expires_at, token.issued_at, token.issuer)
    assert SESSION_NAME_RE.fullmatch(default_session_name(token))
    for check in (
        lambda: check_fresh(token, now=1_700_000_000.0),
        lambda: check_audience(token, "sts.amazonaws.com"),
    ):
        try:
            check()
        except TokenInvalidError as exc:
            _one_line(exc)


@given(token_texts)
@example("")
@example("<html>")
@example("a.b.c")
@example("e30.e30.")
@example("W10.e30.x")  # header is a JSON array
@example("e30.eyJleHAiOiAxZTMwOX0.x")  # exp = 1e309 -> inf
@example("e30.eyJleHAiOiAtMWUzMDB9.x")  # exp = -1e300
@example("e30.eyJleHAiOiBOYU4sICJpYXQiOiBJbmZpbml0eX0.x")  # exp = NaN, iat = Infinity
@example("x" * (MAX_TOKEN_CHARS + 1))
def test_decode_unverified_raises_only_token_invalid(raw: str) -> None:
    _check_decoded(raw)


@given(header=st.dictionaries(st.text(max_size=8), json_values, max_size=3), claims=claim_sets)
def test_encoded_claims_decode_back(header: dict[str, Any], claims: dict[str, Any]) -> None:
    raw = f"{segment(header)}.{segment(claims)}.{b64(b'signature')}"
    if len(raw) > MAX_TOKEN_CHARS:
        return
    token = decode_unverified(raw, source="fuzz")
    assert dict(token.header) == header
    assert dict(token.claims) == claims
    assert token.raw == raw
    assert raw not in repr(token)
    _check_decoded(raw)
