"""The credentials endpoint: real botocore clients, security checks, refresh and shutdown."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gcp2aws import settings as settings_mod
from gcp2aws.delivery.server import CredentialServer, refresh_delay
from gcp2aws.delivery.server_auth import allowed_hosts, is_loopback, token_matches
from gcp2aws.emulator.faults import StsError as StsFault
from gcp2aws.errors import StsError, UsageError
from gcp2aws.models import AwsCredentials
from gcp2aws.provider import CredentialProvider, Result
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

ANY = "0.0.0.0"  # noqa: S104 - the address under test
# STS's minimum lifetime with a refresh window 3 s shorter: a real rotation every ~3 s.
SHORT = {"duration_seconds": "900", "refresh_window": "897"}


@pytest.fixture
def live(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """Point this process (botocore reads os.environ) at the emulators too."""
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_IP", "AWS_ENDPOINT_URL_STS", "AWS_REGION"):
        monkeypatch.setenv(name, env.values[name])
    return env


def _provider(**extra: str) -> CredentialProvider:
    settings = settings_mod.load({"role_arn": ROLE_ARN, **extra}, os.environ)
    return CredentialProvider(settings, environ=os.environ)


@pytest.fixture
def server(live: Env) -> Iterator[CredentialServer]:
    provider = _provider()
    with CredentialServer(provider.get, refresh_window=provider.settings.refresh_window) as srv:
        yield srv


def _request(
    srv: CredentialServer,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    auth: bool = True,
) -> tuple[int, dict[str, str], dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        hdrs = {"Authorization": srv.auth_token} if auth else {}
        hdrs.update(headers or {})
        conn.request(method, path, headers=hdrs)
        resp = conn.getresponse()
        body = resp.read()
        doc = json.loads(body) if body else {}
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, doc
    finally:
        conn.close()


def _botocore_credentials(url: str, token: str | None = None, token_file: str | None = None):  # type: ignore[no-untyped-def]
    """What a real SDK resolves from the container variables (a fresh botocore session)."""
    import botocore.session

    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": url}
    if token is not None:
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    if token_file is not None:
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = token_file
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        session = botocore.session.Session()
        creds = session.get_credentials()
        return session, creds
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- real clients ----------------------------------------------------------------------------------
def test_botocore_reads_credentials_from_the_endpoint(server: CredentialServer, live: Env) -> None:
    session, creds = _botocore_credentials(server.url, server.auth_token)
    assert creds is not None
    assert creds.method == "container-role"
    frozen = creds.get_frozen_credentials()
    current = server.current
    assert current is not None
    assert frozen.access_key == current.access_key_id
    assert frozen.secret_key == current.secret_access_key
    assert frozen.token == current.session_token
    # ...and they work against STS.
    client = session.create_client("sts", region_name="us-east-1")
    arn = client.get_caller_identity()["Arn"]
    assert ":assumed-role/gcp2aws-test/" in arn


def test_response_document_and_headers(server: CredentialServer) -> None:
    status, headers, doc = _request(server)
    assert status == 200
    assert set(doc) >= {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert str(doc["Expiration"]).endswith("Z")
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert not any(h.startswith("access-control-") for h in headers)


def test_keep_alive_serves_many_requests_on_one_connection(server: CredentialServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(50):
            conn.request("GET", "/", headers={"Authorization": server.auth_token})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["AccessKeyId"]
    finally:
        conn.close()


# -- security --------------------------------------------------------------------------------------
def test_missing_token_is_401_json(server: CredentialServer) -> None:
    status, _, doc = _request(server, auth=False)
    assert status == 401
    assert "Authorization" in str(doc["Message"])
    assert "AccessKeyId" not in doc


@pytest.mark.parametrize("token", ["wrong", "", "Bearer {t}", "{t} ", "{t}x", "ü"])
def test_wrong_token_is_403_json(server: CredentialServer, token: str) -> None:
    value = token.format(t=server.auth_token)
    if value == "ü":
        # http.client would refuse a non-latin-1 header; send raw bytes.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \xfc\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 403 ")
        return
    status, _, doc = _request(server, auth=False, headers={"Authorization": value})
    assert status == 403
    assert doc == {"Message": "invalid authorization token"}


@pytest.mark.parametrize(
    "host", ["evil.example.com", "evil.example.com:80", "127.0.0.1.nip.io", "localhost.evil", ""]
)
def test_non_loopback_host_header_is_refused(server: CredentialServer, host: str) -> None:
    status, _, doc = _request(server, headers={"Host": host})
    assert status == 403
    assert "Host" in str(doc["Message"])
    assert "AccessKeyId" not in doc


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.1:{port}"])
def test_loopback_host_headers_are_accepted(server: CredentialServer, host: str) -> None:
    status, _, _ = _request(server, headers={"Host": host.format(port=server.port)})
    assert status == 200


def test_browser_origin_is_refused(server: CredentialServer) -> None:
    status, _, _ = _request(server, headers={"Origin": "http://evil.example.com"})
    assert status == 403


def test_healthz_needs_no_auth_and_reveals_nothing(server: CredentialServer) -> None:
    status, _, doc = _request(server, "/healthz", auth=False, headers={"Host": "10.0.0.5:9911"})
    assert status == 200
    assert doc == {"status": "ok"}


def test_other_methods_and_paths(server: CredentialServer) -> None:
    status, headers, doc = _request(server, method="POST")
    assert (status, headers["allow"]) == (405, "GET")
    assert "Message" in doc
    status, _, doc = _request(server, method="OPTIONS", auth=False)
    assert status == 405
    status, _, doc = _request(server, "/latest/meta-data/")
    assert status == 404
    assert "Message" in doc
    # Unauthenticated clients cannot probe paths.
    assert _request(server, "/nope", auth=False)[0] == 401


def test_malformed_request_gets_json_error(server: CredentialServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        data = sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert "Message" in json.loads(body)


def _non_loopback_ip() -> str | None:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    for addr in out.stdout.split():
        if ":" not in addr and not is_loopback(addr):
            return addr
    return None


def test_endpoint_is_unreachable_from_non_loopback_addresses(server: CredentialServer) -> None:
    addr = _non_loopback_ip()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((addr, server.port), timeout=5).close()


@pytest.mark.parametrize("host", [ANY, "10.1.2.3", "::", "example.com"])
def test_non_loopback_bind_is_refused(host: str) -> None:
    with pytest.raises(UsageError):
        CredentialServer(lambda: pytest.fail("must not fetch"), refresh_window=1200, host=host)


def test_non_loopback_bind_allowed_explicitly_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("WARNING", logger="gcp2aws")
    srv = CredentialServer(
        lambda: pytest.fail("not started"),
        refresh_window=1200,
        host=ANY,
        allow_non_loopback=True,
    )
    assert srv.host == ANY
    assert "non-loopback" in caplog.text


def test_cli_refuses_non_loopback_bind(env: Env) -> None:
    proc = run_gcp2aws(["serve", "--role-arn", ROLE_ARN, "--host", ANY], env.values)
    assert_clean_failure(proc, 2)
    assert "--allow-non-loopback" in proc.stderr


def test_auth_helpers() -> None:
    assert token_matches(b"abc", "abc")
    assert not token_matches(b"abc", "abd")
    assert not token_matches(b"abc", None)
    assert not token_matches(b"abc", "\u00e9")
    assert "127.0.0.1:8080" in allowed_hosts("127.0.0.1", 8080)
    assert "evil.com:8080" not in allowed_hosts("127.0.0.1", 8080)
    assert "[::1]:1" in allowed_hosts("::1", 1)


def test_ipv6_loopback(live: Env) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    provider = _provider()
    try:
        srv = CredentialServer(provider.get, refresh_window=1200, host="::1").start()
    except OSError:
        pytest.skip("::1 is not configured")
    try:
        assert srv.url == f"http://[::1]:{srv.port}/"
        _, creds = _botocore_credentials(srv.url, srv.auth_token)
        assert creds is not None
        assert creds.get_frozen_credentials().access_key.startswith("ASIA")
    finally:
        srv.stop()


# -- refresh ---------------------------------------------------------------------------------------
def test_refresh_delay_lands_just_inside_the_window() -> None:
    exp = datetime(2030, 1, 1, tzinfo=timezone.utc)
    creds = AwsCredentials("AKIA", "s", "t", exp)
    now = exp.timestamp() - 3600
    assert refresh_delay(creds, now, 1200) == pytest.approx(2400.05)
    # Shorter than the window: paced at half the remaining life, never a busy loop.
    assert refresh_delay(creds, exp.timestamp() - 900, 1200) == pytest.approx(450)
    assert refresh_delay(creds, exp.timestamp() - 1, 1200) == 1.0


def test_background_refresh_rotates_without_requests_waiting(live: Env) -> None:
    provider = _provider(**SHORT)
    seen: set[str] = set()
    errors: list[int] = []
    stop = threading.Event()
    with CredentialServer(provider.get, refresh_window=897) as srv:

        def hammer() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            while not stop.is_set():
                conn.request("GET", "/", headers={"Authorization": srv.auth_token})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
                else:
                    seen.add(json.loads(body)["AccessKeyId"])
            conn.close()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join()
        refreshes = srv.refreshes
    assert errors == []
    assert len(seen) >= 3, "expected at least two rotations"
    assert refreshes >= 2


def test_exactly_one_sts_call_per_credential_lifetime(live: Env, local_sts: object) -> None:
    provider = _provider(**SHORT)
    with CredentialServer(provider.get, refresh_window=897) as srv:
        keys: set[str] = set()
        deadline = time.monotonic() + 20
        while len(keys) < 3 and time.monotonic() < deadline:
            keys.add(str(_request(srv)[2]["AccessKeyId"]))
            time.sleep(0.02)
        calls = local_sts.assume_calls  # type: ignore[attr-defined]
    # Allow the one rotation that may have started after the last request.
    assert calls in (len(keys), len(keys) + 1)


def test_failed_refresh_keeps_serving_then_503_when_expired() -> None:
    now = [1_000_000.0]
    creds = AwsCredentials(
        "ASIAFIRSTKEY00000000", "s", "t", datetime.fromtimestamp(now[0] + 30, tz=timezone.utc)
    )
    calls = [0]

    def get() -> Result:
        calls[0] += 1
        if calls[0] == 1:
            return Result(creds, "")
        raise StsError("STS Throttling for role", code="Throttling", transient=True)

    # The test drives the refresh itself (refresh_now), on the injected clock: no real waits.
    srv = CredentialServer(get, refresh_window=25, clock=lambda: now[0])
    srv.start(refresh_thread=False)
    try:
        srv.refresh_now()  # what the refresh loop runs when the set enters the window
        assert calls[0] == 2  # the refresh was attempted and failed
        status, _, doc = _request(srv)
        assert status == 200
        assert doc["AccessKeyId"] == "ASIAFIRSTKEY00000000"
        now[0] += 31  # the old set has expired, nothing valid is left
        status, headers, doc = _request(srv)
        assert status == 503
        assert headers["content-type"] == "application/json"
        assert "no valid credentials" in str(doc["Message"])
        assert "Throttling" in str(doc["Message"])
    finally:
        srv.stop()


def test_refresh_failure_against_sts_keeps_old_credentials(
    live: Env, local_sts: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="gcp2aws")
    provider = _provider(**SHORT, no_cache="1")
    srv = CredentialServer(provider.get, refresh_window=897).start(refresh_thread=False)
    try:
        first = _request(srv)[2]["AccessKeyId"]
        local_sts.inject(  # type: ignore[attr-defined]
            StsFault("AccessDenied", "Not authorized"),
            times=100,
            action="AssumeRoleWithWebIdentity",
        )
        srv.refresh_now()  # what the refresh loop runs when the set enters the window
        status, _, doc = _request(srv)
        local_sts.faults.clear()  # type: ignore[attr-defined]
    finally:
        srv.stop()
    assert local_sts.assume_calls == 2  # type: ignore[attr-defined]
    assert status == 200
    assert doc["AccessKeyId"] == first
    assert "credential refresh failed" in caplog.text


# -- the CLI ---------------------------------------------------------------------------------------
def _start_cli(env: Env, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [gcp2aws_exe(), "serve", "--role-arn", ROLE_ARN, "--format", "dotenv", *args],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    if "--env-file" not in args:
        for _ in range(2):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            name, _, value = line.strip().partition("=")
            lines[name] = value
    return proc, lines


def _stop_cli(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


def test_cli_serve_prints_client_variables_and_stops_on_sigterm(live: Env) -> None:
    proc, lines = _start_cli(live)
    try:
        assert set(lines) == {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        }
        assert lines["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
        assert len(lines["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) == 64  # 256 bits, hex
        _, creds = _botocore_credentials(
            lines["AWS_CONTAINER_CREDENTIALS_FULL_URI"], lines["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        )
        frozen = creds.get_frozen_credentials()
        assert frozen.access_key.startswith("ASIA")
    finally:
        code, err = _stop_cli(proc)
    assert code == 0, err
    assert "shutting down" in err
    # Access log: one JSON line per request, key redacted, no secrets.
    records = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert records
    assert records[-1]["status"] == 200
    assert "****" in records[-1]["key"]
    assert frozen.access_key not in err
    assert frozen.secret_key not in err
    assert frozen.token not in err
    assert lines["AWS_CONTAINER_AUTHORIZATION_TOKEN"] not in err


def test_cli_serve_auth_token_file_and_env_file(live: Env, tmp_path: Path) -> None:
    token_path = tmp_path / "run" / "auth-token"
    token_path.parent.mkdir()
    env_path = tmp_path / "client.env"
    proc, _ = _start_cli(
        live, "--auth-token-file", str(token_path), "--env-file", str(env_path), "--port", "0"
    )
    try:
        deadline = time.monotonic() + 20
        while not env_path.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        for path in (token_path, env_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = token_path.read_text()
        assert len(token) == 64  # no trailing newline: SDKs send the file verbatim
        client = dict(line.split("=", 1) for line in env_path.read_text().splitlines())
        assert client == {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": client["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_path),
        }
        _, creds = _botocore_credentials(
            client["AWS_CONTAINER_CREDENTIALS_FULL_URI"], token_file=str(token_path)
        )
        assert creds.get_frozen_credentials().access_key.startswith("ASIA")
    finally:
        code, err = _stop_cli(proc)
    assert code == 0, err
    assert token not in err


def test_cli_serve_fails_cleanly_without_role(env: Env) -> None:
    assert_clean_failure(run_gcp2aws(["serve"], env.values), 2)


def test_manifest_command_line_parses() -> None:
    """The interface the Kubernetes manifests use must keep parsing."""
    from gcp2aws.cli.app import build_parser

    ns = build_parser().parse_args(
        [
            "serve",
            "--auth-token-file",
            "/var/run/gcp2aws/auth-token",
            "--port",
            "9911",
            "--role-arn",
            ROLE_ARN,
        ]
    )
    assert (ns.auth_token_file, ns.port, ns.host) == (
        "/var/run/gcp2aws/auth-token",
        9911,
        "127.0.0.1",
    )
    assert ns.token_file is None  # --token-file keeps meaning "read the OIDC token from PATH"


def test_expired_credentials_are_never_served_fresh() -> None:
    expired = AwsCredentials("ASIAOLD", "s", "t", datetime.now(timezone.utc) - timedelta(1))
    srv = CredentialServer(lambda: Result(expired, ""), refresh_window=1200).start()
    try:
        assert _request(srv)[0] == 503
    finally:
        srv.stop()


# -- round 2: probes, logging and a local flood ---------------------------------------------------
def _static(expires_in: float) -> Callable[[], Result]:
    creds = AwsCredentials(
        "ASIASTATIC0000000000", "s", "t", datetime.now(timezone.utc) + timedelta(seconds=expires_in)
    )
    return lambda: Result(creds, "")


def test_healthz_is_503_while_nothing_valid_can_be_served() -> None:
    srv = CredentialServer(_static(-60), refresh_window=1200).start()
    try:
        status, _, doc = _request(srv, "/healthz", auth=False)
    finally:
        srv.stop()
    assert status == 503
    assert doc == {"status": "unavailable"}


def test_every_response_is_logged_the_http_layers_own_included() -> None:
    log = io.StringIO()
    srv = CredentialServer(_static(3600), refresh_window=1200, access_log=log).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"NONSENSE\x1b[2J\r\n\r\n")  # 400, with a terminal escape in it
            sock.recv(4096)
        _request(srv, method="POST")  # 405
        _request(srv, "/" + "x" * 70_000)  # 414 from the HTTP layer
    finally:
        srv.stop()
    records = [json.loads(line) for line in log.getvalue().splitlines()]
    assert sorted(r["status"] for r in records) == [400, 405, 414]
    assert all("\x1b" not in json.dumps(r, ensure_ascii=False) for r in records)


def _partial(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127")  # never finished
    return sock


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, OSError):
        return False


def test_a_request_head_that_never_completes_is_closed_at_the_header_deadline() -> None:
    srv = CredentialServer(_static(3600), refresh_window=1200, header_deadline=0.5).start()
    try:
        slow = _partial(srv.port)
        assert _closed_by_peer(slow, within=5)  # the reaper closed it, bytes or not
        slow.close()
        assert srv.shed >= 1
        assert _request(srv)[0] == 200
    finally:
        srv.stop()


def test_past_max_connections_the_longest_waiting_one_is_shed_not_the_newcomer() -> None:
    srv = CredentialServer(_static(3600), refresh_window=1200, max_connections=4).start()
    try:
        held = [_partial(srv.port) for _ in range(4)]
        time.sleep(0.2)  # let the server accept all four, in order
        newcomer = _partial(srv.port)
        assert _closed_by_peer(held[0], within=5)
        status = _request(srv)[0]  # a whole request still gets its answer at once
        for sock in (*held, newcomer):
            sock.close()
    finally:
        srv.stop()
    assert status == 200
    assert srv.shed >= 2


def test_max_connections_must_be_positive() -> None:
    with pytest.raises(UsageError, match="too small"):
        CredentialServer(_static(3600), refresh_window=1200, max_connections=0)
