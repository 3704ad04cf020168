"""server_auth: loopback-only binds, constant-time token check, Host allow-list, private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gcp2aws.delivery import server_auth
from gcp2aws.errors import ConfigError, UsageError


def test_new_tokens_are_256_bit_hex_and_distinct() -> None:
    first, second = server_auth.new_token(), server_auth.new_token()
    assert len(first) == 64
    int(first, 16)
    assert first != second


@pytest.mark.parametrize(
    ("presented", "ok"),
    [("abc", True), ("abd", False), (None, False), ("ab", False), ("abcé", False)],
)
def test_token_matches_only_the_exact_ascii_token(presented: str | None, ok: bool) -> None:
    assert server_auth.token_matches(b"abc", presented) is ok


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("[::1]", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.evil", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert server_auth.is_loopback(host) is loopback


def test_bind_address_refuses_non_loopback_without_the_opt_in() -> None:
    assert server_auth.check_bind_address("localhost", allow_non_loopback=False) == "127.0.0.1"
    assert server_auth.check_bind_address("[::1]", allow_non_loopback=False) == "::1"
    with pytest.raises(UsageError, match="non-loopback"):
        server_auth.check_bind_address("0.0.0.0", allow_non_loopback=False)  # noqa: S104
    with pytest.raises(UsageError, match="invalid bind address"):
        server_auth.check_bind_address("not-an-ip", allow_non_loopback=True)


def test_non_loopback_opt_in_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert server_auth.check_bind_address("10.1.2.3", allow_non_loopback=True) == "10.1.2.3"
    assert "non-loopback address 10.1.2.3" in caplog.text


def test_allowed_hosts_are_loopback_names_plus_an_explicit_bind() -> None:
    hosts = server_auth.allowed_hosts("127.0.0.1", 8080)
    assert {"localhost:8080", "127.0.0.1", "[::1]:8080"} <= hosts
    assert "evil.example:8080" not in hosts
    assert "[fd00::1]:9" in server_auth.allowed_hosts("fd00::1", 9)
    assert "0.0.0.0:9" not in server_auth.allowed_hosts("0.0.0.0", 9)  # noqa: S104


def test_private_file_is_0600_and_replaced_whole(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    target = directory / "token"
    target.write_text("old")
    os.chmod(target, 0o644)
    server_auth.write_private_file(str(target), "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in directory.iterdir()] == ["token"]


def test_private_file_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        server_auth.write_private_file(str(tmp_path / "missing" / "token"), "x")
