"""Fuzz credential_process JSON and cache entries: round trips are identity, junk is refused."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from gcp2aws import formats
from gcp2aws.cache import MAGIC, CacheEntry, decode_entry, encode_entry
from gcp2aws.errors import Gcp2AwsError
from gcp2aws.models import AwsCredentials

# Anything JSON can carry in a string: all of Unicode except lone surrogates.
secret_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60)
# Whole seconds (the wire format has no fraction) in any year a datetime can hold in UTC.
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
).map(lambda d: d.replace(microsecond=0))
credentials = st.builds(
    AwsCredentials,
    access_key_id=secret_text,
    secret_access_key=secret_text,
    session_token=secret_text,
    expiration=moments,
    account_id=st.one_of(st.none(), st.from_regex(r"[0-9]{12}", fullmatch=True)),
)


@given(credentials)
def test_credential_process_round_trip_is_identity(creds: AwsCredentials) -> None:
    text = formats.credential_process(creds)
    assert text.endswith("\n")
    assert text.count("\n") == 1  # one line: a log line cannot be mistaken for it, and back
    doc = json.loads(text)
    assert doc["Version"] == 1
    assert doc["Expiration"].endswith("Z")
    back = formats.from_credential_process(text, source=creds.source)
    assert back == creds
    assert formats.from_credential_process(text.encode(), source=creds.source) == creds
    assert formats.credential_process(back) == text


@given(credentials)
def test_container_endpoint_carries_the_same_values(creds: AwsCredentials) -> None:
    doc = json.loads(formats.container_endpoint(creds))
    assert doc["Token"] == creds.session_token
    assert doc["SecretAccessKey"] == creds.secret_access_key
    assert formats.parse_rfc3339(doc["Expiration"]) == creds.expiration


@given(st.datetimes(timezones=st.none() | st.timezones()))
def test_rfc3339_is_utc_z_and_parses_back(moment: datetime) -> None:
    try:
        text = formats.rfc3339(moment)
    except OverflowError:
        return  # year 1 or 9999 shifted out of range by its offset: no such UTC moment
    assert text.endswith("Z")
    assert len(text) == 20
    assert formats.parse_rfc3339(text) == moment.astimezone(timezone.utc).replace(microsecond=0)


json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=10,
)
near_documents = st.fixed_dictionaries(
    {},
    optional={
        "Version": st.one_of(st.just(1), json_junk),
        "AccessKeyId": json_junk,
        "SecretAccessKey": json_junk,
        "SessionToken": json_junk,
        "Expiration": st.one_of(st.just("2030-01-01T00:00:00Z"), st.text(max_size=25), json_junk),
        "AccountId": json_junk,
    },
)


@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        json_junk.map(json.dumps),
        near_documents.map(json.dumps),
    )
)
@example(b"\xff")
@example('{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c"}')
@example(
    '{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c",'
    ' "Expiration": "9999-12-31T23:59:59-01:00"}'
)
@example(
    '{"Version": 1, "AccessKeyId": "a", "SecretAccessKey": "b", "SessionToken": "c",'
    ' "Expiration": "2030-01-01T00:00:00Z", "AccountId": 5}'
)
def test_from_credential_process_raises_only_gcp2aws_error(text: str | bytes) -> None:
    try:
        creds = formats.from_credential_process(text)
    except Gcp2AwsError as exc:
        _one_line(exc)
        return
    assert creds.expiration.tzinfo is not None
    formats.credential_process(creds)  # what was read can be written back out


def _one_line(exc: Gcp2AwsError) -> None:
    assert "\n" not in exc.one_line()


# -- cache entries -------------------------------------------------------------------------------
entries = st.builds(
    CacheEntry,
    key=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200),
    expires_at=st.integers(0, 2**63),
    payload=st.binary(max_size=500),
)


def _same(a: CacheEntry, b: CacheEntry | None) -> bool:
    return b is not None and (a.key, a.expires_at, a.payload) == (b.key, b.expires_at, b.payload)


@given(entries)
def test_cache_entry_round_trip_is_identity(entry: CacheEntry) -> None:
    assert _same(entry, decode_entry(encode_entry(entry)))


@given(entries, st.data())
def test_damaged_cache_entry_is_a_miss_never_another_entry(
    entry: CacheEntry, data: st.DataObject
) -> None:
    encoded = encode_entry(entry)
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "extend"]))
    at = data.draw(st.integers(0, len(encoded) - 1))
    if how == "truncate":
        damaged = encoded[:at]
    elif how == "flip":
        bit = 1 << data.draw(st.integers(0, 7))
        damaged = encoded[:at] + bytes([encoded[at] ^ bit]) + encoded[at + 1 :]
    elif how == "insert":
        damaged = encoded[:at] + data.draw(st.binary(min_size=1, max_size=4)) + encoded[at:]
    else:
        damaged = encoded + data.draw(st.binary(min_size=1, max_size=4))
    decoded = decode_entry(damaged)
    if decoded is not None:
        # crc32 detects every burst of up to 32 bits; what survives is the same entry (e.g. a
        # flipped bit in the expiry's leading zeros is impossible: digits have no spare bits).
        assert _same(entry, decoded) or decoded.key != entry.key or damaged == encoded


def _header(fields: list[bytes]) -> bytes:
    return b" ".join(fields) + b"\n"


digits = st.one_of(
    st.integers(0, 10**6).map(lambda i: str(i).encode()),
    st.integers(1, 6000).map(lambda n: b"9" * n),  # int() refuses more than 4300 digits
    st.binary(max_size=6),
)


@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda e, k, p, c, body: _header([MAGIC, b"1", e, k, p, c]) + body,
            digits,
            digits,
            digits,
            st.one_of(st.binary(max_size=8), st.just(b"00000000")),
            st.binary(max_size=40),
        ),
    )
)
@example(_header([MAGIC, b"1", b"1", b"9" * 5000, b"0", b"00000000"]))
@example(_header([MAGIC, b"1", b"9" * 5000, b"0", b"0", b"%08x" % zlib.crc32(b"")]))
def test_decode_entry_on_arbitrary_bytes_returns_none_or_an_entry(data: bytes) -> None:
    entry = decode_entry(data)
    assert entry is None or isinstance(entry, CacheEntry)
    if entry is not None:
        assert _same(entry, decode_entry(encode_entry(entry)))
