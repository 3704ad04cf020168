"""gauth: the Deadline-bound pool (proxies, budget), credentials files, google-auth error mapping.

HTTP goes to real local servers: a scripted token endpoint and a recording forward proxy.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth import exceptions

from gcp2aws.emulator.signer import make_service_account_key
from gcp2aws.errors import ConfigError, DeadlineExceededError, TokenUnavailableError
from gcp2aws.idtoken import gauth
from gcp2aws.retry import Deadline

SA = "sa@demo-project.iam.gserviceaccount.com"


class Recorder(http.server.ThreadingHTTPServer):
    """Answers every request with ``status`` / ``body`` and records the request lines."""

    daemon_threads = True

    def __init__(self, host: str, name: str) -> None:
        super().__init__((host, 0), Handler)
        self.name = name
        self.status = 200
        self.body = b""
        self.content_type = "application/json"
        self.lines: list[str] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.lines.append(self.requestline)
        body = self.server.body or self.server.name.encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def do_CONNECT(self) -> None:  # a forward proxy asked to tunnel: refuse, but record it
        self.server.lines.append(self.requestline)
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str, name: str) -> Iterator[Recorder]:
    server = Recorder(host, name)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def origin() -> Iterator[Recorder]:
    # 127.0.0.2 is loopback on Linux but not one of the names the pool always sends direct,
    # so proxy selection applies to it.
    yield from serve("127.0.0.2", "origin")


@pytest.fixture
def proxy() -> Iterator[Recorder]:
    yield from serve("127.0.0.1", "proxy")


def get(pool: gauth.DeadlinePool, url: str) -> tuple[int, bytes]:
    response = pool.request("GET", url)
    return response.status, response.data


# -- DeadlinePool ----------------------------------------------------------------------------


def test_pool_goes_direct_without_proxy_settings(origin: Recorder) -> None:
    pool = gauth.DeadlinePool(Deadline(30), {})
    assert get(pool, origin.url + "/a") == (200, b"origin")
    assert origin.lines == ["GET /a HTTP/1.1"]


@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
def test_pool_sends_http_through_the_proxy(origin: Recorder, proxy: Recorder, name: str) -> None:
    pool = gauth.DeadlinePool(Deadline(30), {name: proxy.url})
    assert get(pool, origin.url + "/via") == (200, b"proxy")
    assert get(pool, origin.url + "/again") == (200, b"proxy")
    # A forward proxy gets the absolute URL; the origin sees nothing.
    assert proxy.lines == [f"GET {origin.url}/via HTTP/1.1", f"GET {origin.url}/again HTTP/1.1"]
    assert origin.lines == []
    pool.close()
    assert all(len(manager.pools) == 0 for manager in pool._proxied.values())


@pytest.mark.parametrize("no_proxy", ["127.0.0.2", " other.example , 127.0.0.2", "*"])
def test_no_proxy_entries_bypass_the_proxy(
    origin: Recorder, proxy: Recorder, no_proxy: str
) -> None:
    pool = gauth.DeadlinePool(Deadline(30), {"HTTP_PROXY": proxy.url, "NO_PROXY": no_proxy})
    assert get(pool, origin.url + "/direct") == (200, b"origin")
    assert proxy.lines == []


def test_no_proxy_for_another_host_still_proxies(origin: Recorder, proxy: Recorder) -> None:
    environ = {"http_proxy": proxy.url, "no_proxy": "example.com,.internal"}
    pool = gauth.DeadlinePool(Deadline(30), environ)
    assert get(pool, origin.url + "/p") == (200, b"proxy")
    assert origin.lines == []


def test_loopback_names_never_use_the_proxy(proxy: Recorder) -> None:
    local = Recorder("127.0.0.1", "local")
    thread = threading.Thread(target=local.serve_forever, daemon=True)
    thread.start()
    try:
        pool = gauth.DeadlinePool(Deadline(30), {"HTTP_PROXY": proxy.url})
        assert get(pool, local.url + "/x") == (200, b"local")
        port = local.server_address[1]
        assert get(pool, f"http://localhost:{port}/y") == (200, b"local")
    finally:
        local.shutdown()
        local.server_close()
    assert proxy.lines == []


def test_https_uses_https_proxy_with_a_tunnel(proxy: Recorder) -> None:
    import urllib3.exceptions

    pool = gauth.DeadlinePool(Deadline(30), {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": "unused"})
    with pytest.raises(urllib3.exceptions.ProxyError):
        pool.request("GET", "https://oauth2.googleapis.com/token")
    assert [line.rsplit(" ", 1)[0] for line in proxy.lines] == ["CONNECT oauth2.googleapis.com:443"]


def test_an_expired_deadline_sends_nothing(origin: Recorder) -> None:
    pool = gauth.DeadlinePool(Deadline(0), {})
    with pytest.raises(DeadlineExceededError, match=r"no time left for POST 127\.0\.0\.2:\d+"):
        pool.request("POST", origin.url + "/token", body=b"x")
    assert origin.lines == []


# -- credentials files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is not JSON"),
        (b"\xff\xfe\x00garbage", "is not JSON"),
        (b"[1, 2]", "has no 'type' field"),
        (b'{"type": 7}', "has no 'type' field"),
        (b'{"client_email": "x"}', "has no 'type' field"),
    ],
)
def test_read_info_refuses_malformed_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "creds.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        gauth.read_info(str(path), source="src")
    assert info.value.one_line().startswith(f"src: credentials file {path} ")
    assert "garbage" not in info.value.one_line()  # the file's content is never echoed


def test_read_info_of_a_directory_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read credentials file"):
        gauth.read_info(str(tmp_path), source="src")
    with pytest.raises(ConfigError, match="does not exist"):
        gauth.read_info(str(tmp_path / "absent.json"), source="src")


def test_read_info_and_file_type_of_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "adc.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "c"}))
    assert gauth.read_info(str(path), source="s") == {"type": "authorized_user", "client_id": "c"}
    assert gauth.file_type(str(path), source="s") == "authorized_user"


def test_load_credentials_refuses_incomplete_or_unknown_files() -> None:
    with pytest.raises(
        ConfigError, match=r"cannot load the service_account credentials in k\.json"
    ):
        gauth.load_credentials(
            {"type": "service_account", "client_email": SA}, path="k.json", source="s", environ={}
        )
    with pytest.raises(ConfigError, match="cannot load the martian credentials"):
        gauth.load_credentials({"type": "martian"}, path="m.json", source="s", environ={})


def test_load_credentials_keeps_the_files_token_uri_unless_overridden() -> None:
    user = {
        "type": "authorized_user",
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rtoken",
    }
    creds = gauth.load_credentials(user, path="adc.json", source="s", environ={})
    assert creds.token_uri == "https://oauth2.googleapis.com/token"
    local = "http://127.0.0.1:1/token"
    creds = gauth.load_credentials(
        user, path="adc.json", source="s", environ={"GCP2AWS_OAUTH_TOKEN_URI": local}
    )
    assert creds.token_uri == local


# -- refresh against a scripted token endpoint, and error mapping ---------------------------


@pytest.fixture
def token_endpoint() -> Iterator[Recorder]:
    yield from serve("127.0.0.1", "token")


def sa_credentials(token_uri: str) -> Any:
    info = make_service_account_key(SA, project_id="demo-project", token_uri=token_uri)
    return gauth.load_credentials(info, path="key.json", source="sa", environ={})


def refresh_error(token_endpoint: Recorder, status: int, body: bytes) -> TokenUnavailableError:
    token_endpoint.status, token_endpoint.body = status, body
    creds = sa_credentials(token_endpoint.url + "/token")
    pool = gauth.DeadlinePool(Deadline(30), {})
    with pytest.raises(TokenUnavailableError) as info:
        gauth.refresh(creds, pool, source="service-account-key", what="access token")
    assert token_endpoint.lines[0] == "POST /token HTTP/1.1"
    return info.value


def test_refresh_succeeds_through_the_pool(token_endpoint: Recorder) -> None:
    token_endpoint.body = json.dumps({"access_token": "ya29.local", "expires_in": 3600}).encode()
    creds = sa_credentials(token_endpoint.url + "/token")
    gauth.refresh(creds, gauth.DeadlinePool(Deadline(30), {}), source="s", what="w")
    assert creds.token == "ya29.local"


def test_invalid_grant_says_the_key_was_revoked(token_endpoint: Recorder) -> None:
    body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    err = refresh_error(token_endpoint, 400, body.encode())
    text = err.one_line()
    assert "service-account-key: access token failed: Google refused the credentials" in text
    assert "invalid_grant" in text
    assert "revoked" in (err.hint or "")
    assert err.transient is False


def test_other_refusal_points_at_the_account(token_endpoint: Recorder) -> None:
    body = json.dumps({"error": "unauthorized_client", "error_description": "Disabled."})
    err = refresh_error(token_endpoint, 401, body.encode())
    assert "Google refused the credentials" in err.one_line()
    assert err.hint == "Check the credentials file and the account's status"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        # A captive portal or a wrong GCP2AWS_OAUTH_TOKEN_URI: google-auth indexes the str.
        (b"<html>captive portal</html>", "TypeError"),
        (json.dumps({"access_token": "ya29.x", "expires_in": "soon"}).encode(), "ValueError"),
    ],
)
def test_malformed_success_reply_is_a_clean_error(
    token_endpoint: Recorder, body: bytes, kind: str
) -> None:
    err = refresh_error(token_endpoint, 200, body)
    assert err.one_line().startswith(
        f"service-account-key: access token failed: unexpected answer from Google ({kind})"
    )
    assert "captive" not in err.one_line()
    assert "ya29" not in err.one_line()


def test_unreachable_token_endpoint_is_a_transient_transport_error() -> None:
    creds = sa_credentials("http://127.0.0.1:9/token")  # nothing listens on the discard port
    pool = gauth.DeadlinePool(Deadline(30), {})
    with pytest.raises(TokenUnavailableError, match="cannot reach Google") as info:
        gauth.refresh(creds, pool, source="sa", what="access token")
    assert info.value.transient is True
    assert "HTTPS_PROXY" in (info.value.hint or "")


def test_map_error_reauth_and_retryable_refresh_errors() -> None:
    reauth = exceptions.ReauthFailError("Reauthentication challenge failed.")
    err = gauth.map_error(reauth, source="adc", what="access token")
    assert isinstance(err, TokenUnavailableError)
    assert "Reauthentication" in err.one_line()
    assert "reauthentication" in (err.hint or "")
    assert "gcloud auth application-default login" in (err.hint or "")

    busy = exceptions.RefreshError("temporarily_unavailable: try later", retryable=True)
    err = gauth.map_error(busy, source="adc", what="access token")
    assert err.transient is True  # type: ignore[attr-defined]


def test_map_error_other_google_auth_errors_and_empty_messages() -> None:
    err = gauth.map_error(exceptions.MalformedError(), source="s", what="ID token")
    assert err.one_line() == (  # type: ignore[attr-defined]
        "s: ID token failed: MalformedError: MalformedError. Re-run with --debug for details"
    )
    long = exceptions.UserAccessTokenError("x" * 500 + "\nsecond line")
    text = gauth.map_error(long, source="s", what="w").one_line()  # type: ignore[attr-defined]
    assert "second line" not in text
    assert "x" * 200 in text
    assert "x" * 201 not in text
