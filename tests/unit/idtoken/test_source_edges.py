"""Edge cases of token sources, the serve auth helpers and Deadline that the main suites skip."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gcp2aws.delivery import server_auth
from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.errors import (
    ConfigError,
    DeadlineExceededError,
    TokenInvalidError,
    UsageError,
)
from gcp2aws.idtoken import service_account
from gcp2aws.idtoken.command import CommandSource
from gcp2aws.idtoken.file import FileSource
from gcp2aws.retry import Deadline

SA = "edge-sa@demo-project.iam.gserviceaccount.com"


# -- file and command sources: binary output is refused without echoing it ------------------


def test_token_file_with_binary_content_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfeey\x00binary")
    with pytest.raises(TokenInvalidError) as info:
        FileSource(str(path)).fetch("sts.amazonaws.com", Deadline(10))
    text = info.value.one_line()
    assert text.startswith(f"file ({path}) holds binary data, not a JWT")
    assert "HTML" not in text  # it is not a proxy's error page
    assert "\\xff" not in text


def test_token_command_with_binary_output_is_invalid() -> None:
    program = f"{sys.executable} -c \"import sys; sys.stdout.buffer.write(b'\\xff\\xfe.eyJ')\""
    with pytest.raises(TokenInvalidError) as info:
        CommandSource(program).fetch("sts.amazonaws.com", Deadline(30))
    text = info.value.one_line()
    assert "printed binary data, not a JWT" in text
    assert "HTML" not in text
    assert "eyJ" not in text


# -- service-account key source ---------------------------------------------------------------


def test_key_file_token_uri_is_used_without_an_override() -> None:
    with GoogleApisEmulator() as apis:
        key = apis.create_service_account_key(SA)
        source = service_account.ServiceAccountKeySource("key.json", key, environ={})
        token = source.fetch("sts.amazonaws.com", Deadline(30))
        assert apis.token_calls == 1  # the file's own token_uri was the one called
    assert token.email == SA
    assert token.aud == "sts.amazonaws.com"


def test_unusable_key_is_a_config_error_naming_the_file() -> None:
    broken = {"type": "service_account", "client_email": SA, "private_key": "not a PEM"}
    source = service_account.ServiceAccountKeySource("/keys/broken.json", broken, environ={})
    assert source.describe() == f"service-account key /keys/broken.json ({SA})"
    with pytest.raises(
        ConfigError, match=r"/keys/broken\.json is not a usable service-account key"
    ):
        source.fetch("sts.amazonaws.com", Deadline(10))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("authorized_user", "--impersonate-service-account EMAIL"),
        ("impersonated_service_account", "--token-source adc-impersonated"),
        ("gdch_service_account", "Use a service_account key file"),
    ],
)
def test_other_file_types_get_a_hint(tmp_path: Path, kind: str, expected: str) -> None:
    path = tmp_path / "creds.json"
    path.write_text(f'{{"type": "{kind}"}}')
    with pytest.raises(ConfigError, match=f"is of type {kind}, not service_account") as info:
        service_account.from_file(str(path), environ={})
    assert expected in (info.value.hint or "")


# -- serve auth helpers -------------------------------------------------------------------------


def test_token_matches_refuses_missing_and_non_ascii_tokens() -> None:
    expected = b"s3cr3t-token"
    assert server_auth.token_matches(expected, "s3cr3t-token") is True
    assert server_auth.token_matches(expected, "s3cr3t-tokeN") is False
    assert server_auth.token_matches(expected, None) is False
    assert server_auth.token_matches(expected, "s3cr3t-tok\u00e9n") is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.9.9.9", True),
        ("[::1]", True),
        ("example.com", False),
        ("10.0.0.1", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert server_auth.is_loopback(host) is loopback


def test_check_bind_address() -> None:
    assert server_auth.check_bind_address("localhost", allow_non_loopback=False) == "127.0.0.1"
    assert server_auth.check_bind_address("[::1]", allow_non_loopback=False) == "::1"
    with pytest.raises(UsageError, match="invalid bind address 'my-host'"):
        server_auth.check_bind_address("my-host", allow_non_loopback=True)
    with pytest.raises(UsageError, match=r"non-loopback address 10\.1\.2\.3"):
        server_auth.check_bind_address("10.1.2.3", allow_non_loopback=False)
    assert server_auth.check_bind_address("10.1.2.3", allow_non_loopback=True) == "10.1.2.3"


def test_allowed_hosts() -> None:
    base = {"127.0.0.1", "localhost", "[::1]"}
    assert server_auth.allowed_hosts("localhost", 8) == frozenset(
        {*base, *(f"{n}:8" for n in base)}
    )
    any_address = "0.0.0.0"  # noqa: S104 - only the Host allow-list is computed, nothing binds
    assert server_auth.allowed_hosts(any_address, 8) == server_auth.allowed_hosts("localhost", 8)
    assert {"10.0.0.5", "10.0.0.5:8"} <= server_auth.allowed_hosts("10.0.0.5", 8)
    assert {"[fd00::5]", "[fd00::5]:8"} <= server_auth.allowed_hosts("fd00::5", 8)


def test_write_private_file_into_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "token"
    with pytest.raises(ConfigError, match=r"cannot write .*no-such-dir/token"):
        server_auth.write_private_file(str(target), "secret-value")
    assert not target.parent.exists()
    good = tmp_path / "token"
    server_auth.write_private_file(str(good), "value")
    assert good.read_text() == "value"
    assert good.stat().st_mode & 0o777 == 0o600


# -- Deadline ---------------------------------------------------------------------------------


def test_deadline_check_raises_only_once_spent() -> None:
    now = [100.0]
    deadline = Deadline(5, clock=lambda: now[0])
    deadline.check("fetching")  # budget left: no error
    assert deadline.clip(10) == 5
    now[0] = 104.999
    assert deadline.clip(10) == pytest.approx(0.01)  # never below 10 ms
    now[0] = 105.0
    with pytest.raises(DeadlineExceededError, match="fetching: gave up after 5s of retries"):
        deadline.check("fetching")
