"""Fuzz what STS can answer: arbitrary mappings and arbitrary XML bodies give StsError or creds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gcp2aws import sts
from gcp2aws.errors import StsError
from gcp2aws.models import AwsCredentials, IdToken
from gcp2aws.retry import Deadline

ROLE = "arn:aws:iam::123456789012:role/fuzz"
TOKEN = IdToken(raw="e30.e30.sig", header={}, claims={"aud": "a"}, source="fuzz")

any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.datetimes(timezones=st.none() | st.timezones()),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
credential_maps = st.fixed_dictionaries(
    {},
    optional={
        "AccessKeyId": any_values,
        "SecretAccessKey": any_values,
        "SessionToken": any_values,
        "Expiration": st.one_of(
            st.datetimes(timezones=st.none() | st.timezones()),
            st.datetimes(min_value=datetime(9999, 12, 31), timezones=st.timezones()),
            any_values,
        ),
    },
)
responses = st.one_of(
    st.dictionaries(st.text(max_size=12), any_values, max_size=4),
    st.fixed_dictionaries(
        {"Credentials": st.one_of(credential_maps, any_values)},
        optional={
            "AssumedRoleUser": st.one_of(
                st.fixed_dictionaries({"Arn": st.one_of(st.text(max_size=60), any_values)}),
                any_values,
            ),
            "Audience": any_values,
        },
    ),
)


def _check_credentials(creds: AwsCredentials) -> None:
    for value in (creds.access_key_id, creds.secret_access_key, creds.session_token):
        assert isinstance(value, str)
        assert value  # an empty or null field is a malformed reply, not credentials
    assert creds.expiration.utcoffset() == timedelta(0)
    assert creds.account_id is None or isinstance(creds.account_id, str)
    creds.redacted_key_id()
    creds.remaining(0.0)
    assert "secret_access_key" not in repr(creds)
    assert "session_token" not in repr(creds)


@given(responses)
@example({"Credentials": []})
@example(
    {
        "Credentials": {
            "AccessKeyId": "a",
            "SecretAccessKey": "b",
            "SessionToken": "c",
            "Expiration": datetime.max.replace(tzinfo=timezone(timedelta(hours=-12))),
        }
    }
)
def test_credentials_from_any_mapping_is_creds_or_sts_error(response: dict[str, Any]) -> None:
    try:
        creds = sts.credentials_from_response(response, source="fuzz")
    except StsError as exc:
        _one_line(exc)
        return
    _check_credentials(creds)


def _one_line(exc: StsError) -> None:
    assert "\n" not in exc.one_line()
    assert TOKEN.raw not in exc.one_line()


# -- XML bodies through botocore's parser and gcp2aws' error mapping -------------------------------
GOOD_FIELDS = {
    "AccessKeyId": "ASIAFUZZFUZZFUZZFUZZ",
    "SecretAccessKey": "fuzz-secret",
    "SessionToken": "fuzz-session-token",
    "Expiration": "2030-01-01T00:00:00Z",
}
xml_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)


@st.composite
def sts_bodies(draw: st.DrawFn) -> bytes:
    """The real response shape with fields dropped, replaced, escaped or cut short."""
    kind = draw(st.sampled_from(["response", "error", "garbage"]))
    if kind == "garbage":
        return draw(st.binary(max_size=200))
    if kind == "error":
        code = draw(st.one_of(st.sampled_from(["AccessDenied", "Throttling", ""]), xml_text))
        doc = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{_escape(code)}</Code><Message>{_escape(draw(xml_text))}</Message>"
            "</Error><RequestId>r</RequestId></ErrorResponse>"
        )
    else:
        fields = []
        for name, good in GOOD_FIELDS.items():
            choice = draw(st.sampled_from(["good", "good", "drop", "text", "raw"]))
            if choice == "drop":
                continue
            value = {"good": good, "text": _escape(draw(xml_text)), "raw": draw(xml_text)}[choice]
            fields.append(f"<{name}>{value}</{name}>")
        arn = draw(st.one_of(st.just("arn:aws:sts::123456789012:assumed-role/r/s"), xml_text))
        doc = (
            '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<AssumeRoleWithWebIdentityResult>"
            f"<Credentials>{''.join(fields)}</Credentials>"
            f"<AssumedRoleUser><Arn>{_escape(arn)}</Arn></AssumedRoleUser>"
            "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
        )
    data = doc.encode()
    if draw(st.booleans()) and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def response_with_expiration(expiration: str) -> bytes:
    """The real response shape with every field good except ``Expiration``."""
    fields = "".join(
        f"<{name}>{expiration if name == 'Expiration' else good}</{name}>"
        for name, good in GOOD_FIELDS.items()
    )
    return (
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<AssumeRoleWithWebIdentityResult><Credentials>{fields}</Credentials>"
        "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
    ).encode()


class _Reply:
    status = 200
    body = b""


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(_Reply.status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(_Reply.body)))
        self.end_headers()
        self.wfile.write(_Reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sts_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def one_client(sts_url: str) -> Any:
    """One real botocore STS client (one attempt, no retries) reused across examples."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL_STS", sts_url)
        session = sts.new_session()
        client = sts.make_client("us-east-1", Deadline(2), session)
    assert client.meta.endpoint_url == sts_url
    return client


@given(body=sts_bodies(), status=st.sampled_from([200, 200, 400, 403]))
@example(body=b"", status=200)
@example(body=b"<AssumeRoleWithWebIdentityResponse/>", status=200)
# Numeric Expirations out of any clock's range: botocore's parse_timestamp raises RuntimeError.
@example(body=response_with_expiration("INF"), status=200)
@example(body=response_with_expiration("1e400"), status=200)
@example(body=response_with_expiration("NaN"), status=200)
def test_any_sts_body_gives_credentials_or_sts_error(
    body: bytes, status: int, one_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sts, "make_client", lambda *a, **k: one_client)
    _Reply.status, _Reply.body = status, body
    try:
        creds = sts.assume_role_with_web_identity(
            token=TOKEN,
            role_arn=ROLE,
            session_name="fuzz",
            duration_seconds=900,
            deadline=Deadline(5),
            region="us-east-1",
        )
    except StsError as exc:
        _one_line(exc)
        return
    assert status == 200
    _check_credentials(creds)
