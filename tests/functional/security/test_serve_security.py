"""`serve`: the bearer token is compared in constant time; wrong callers and hosts are refused."""

from __future__ import annotations

import ast
import hmac
import inspect
import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from gcp2aws import formats
from gcp2aws.delivery import server, server_auth
from gcp2aws.delivery.server import CredentialServer
from gcp2aws.errors import UsageError
from gcp2aws.models import AwsCredentials
from gcp2aws.provider import Result
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, run_gcp2aws

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
CREDS = AwsCredentials(
    access_key_id="ASIASECURITYTEST0001",
    secret_access_key=SECRET,
    session_token="FwoGZXIvYXdzSESSIONTOKEN0123456789",
    expiration=datetime.now(timezone.utc) + timedelta(hours=1),
)


@pytest.fixture
def srv() -> Iterator[CredentialServer]:
    result = Result(CREDS, formats.credential_process(CREDS))
    with CredentialServer(lambda: result, refresh_window=1200) as running:
        yield running


def _raw(srv: CredentialServer, head: bytes) -> tuple[int, dict[str, Any]]:
    """Send a hand-written request (headers a client library would refuse to send)."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(body) if body else {}


def _get(srv: CredentialServer, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    lines = [b"GET / HTTP/1.1", b"Connection: close"]
    lines += [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
    return _raw(srv, b"\r\n".join(lines) + b"\r\n\r\n")


def test_token_comparison_goes_through_hmac_compare_digest(
    srv: CredentialServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    # server_auth calls hmac.compare_digest through the module: patch it there.
    monkeypatch.setattr(hmac, "compare_digest", spy)
    host = f"127.0.0.1:{srv.port}"
    status, doc = _get(srv, {"Host": host, "Authorization": srv.auth_token})
    assert status == 200
    assert doc["SecretAccessKey"] == SECRET
    wrong = srv.auth_token[:-1] + ("0" if srv.auth_token[-1] != "0" else "1")
    assert _get(srv, {"Host": host, "Authorization": wrong})[0] == 403
    assert calls == [
        (srv.auth_token.encode(), srv.auth_token.encode()),
        (srv.auth_token.encode(), wrong.encode()),
    ]


def test_no_plain_comparison_touches_the_token() -> None:
    """Code review, mechanised: the expected token is only ever handed to token_matches."""
    for module in (server, server_auth):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                names = {
                    n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                    for n in ast.walk(node)
                }
                assert not names & {"_expected", "auth_token", "expected", "candidate"}, (
                    module.__name__,
                    ast.unparse(node),
                )
    source = inspect.getsource(server.CredentialServer._respond)
    assert "server_auth.token_matches(self._expected, authorization)" in source


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": ""}, 403),
        ({"Authorization": "Bearer x"}, 403),
        ({"Authorization": "\u00e9" * 64}, 403),
        ({"Host": "evil.example", "auth": True}, 403),
        ({"Host": "localhost.evil.example", "auth": True}, 403),
        ({"Host": "127.0.0.1.nip.io", "auth": True}, 403),
        ({"Host": "169.254.170.2", "auth": True}, 403),
        ({"Host": "", "auth": True}, 403),
        ({"Origin": "http://evil.example", "auth": True}, 403),
    ],
)
def test_wrong_callers_are_refused_without_credentials(
    srv: CredentialServer, headers: dict[str, Any], status: int
) -> None:
    headers = dict(headers)
    sent = {"Host": f"127.0.0.1:{srv.port}"}
    if headers.pop("auth", False):
        sent["Authorization"] = srv.auth_token
    sent.update(headers)
    got, doc = _get(srv, sent)
    assert got == status
    assert set(doc) == {"Message"}
    assert SECRET not in json.dumps(doc)


@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "-1", "1e3"])
def test_odd_content_length_is_a_json_error_not_a_crash(srv: CredentialServer, length: str) -> None:
    host = f"127.0.0.1:{srv.port}"
    head = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nAuthorization: {srv.auth_token}\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    status, doc = _raw(srv, head)
    assert 400 <= status < 500
    assert "Message" in doc
    # ...and the server still serves the next caller.
    assert _get(srv, {"Host": host, "Authorization": srv.auth_token})[0] == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com"])  # noqa: S104
def test_non_loopback_bind_is_refused(host: str) -> None:
    result = Result(CREDS, formats.credential_process(CREDS))
    with pytest.raises(UsageError):
        CredentialServer(lambda: result, refresh_window=1200, host=host)


def test_cli_refuses_a_non_loopback_bind(env: Env) -> None:
    proc = run_gcp2aws(["serve", "--role-arn", ROLE_ARN, "--host", "0.0.0.0"], env.values)  # noqa: S104
    assert_clean_failure(proc, 2)
    assert "non-loopback" in proc.stderr
