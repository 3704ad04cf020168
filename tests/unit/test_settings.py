"""Unit tests for gcp2aws.settings: flags > environment > defaults, validation, provenance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gcp2aws import envvars, options, settings
from gcp2aws.errors import ExitCode, UsageError

ROLE = "arn:aws:iam::123456789012:role/r"


def test_defaults(tmp_path: Path) -> None:
    s = settings.load({}, {"HOME": str(tmp_path)})
    assert s.role_arn is None
    assert s.audience == "sts.amazonaws.com"
    assert s.duration_seconds == 3600
    assert s.timeout == 30.0
    assert s.refresh_window == options.DEFAULT_REFRESH_WINDOW
    assert s.use_cache is True
    assert s.token_source == "auto"
    assert s.debug is False
    assert s.cache_dir == os.path.join(str(tmp_path), ".cache", "gcp2aws")
    assert s.policy_arns == ()
    assert s.delegates == ()


def test_require_role_arn() -> None:
    with pytest.raises(UsageError, match="no role ARN") as info:
        settings.load({}, {}).require_role_arn()
    assert info.value.exit_code == ExitCode.USAGE
    assert "GCP2AWS_ROLE_ARN" in info.value.hint
    assert settings.load({"role_arn": ROLE}, {}).require_role_arn() == ROLE


def test_flags_win_and_provenance_records_where_from() -> None:
    environ = {
        envvars.ROLE_ARN: "arn:aws:iam::123456789012:role/from-env",
        envvars.DURATION_SECONDS: "7200",
        envvars.NO_CACHE: "true",
    }
    s = settings.load({"role_arn": ROLE, "duration_seconds": None}, environ)
    assert s.role_arn == ROLE
    assert s.duration_seconds == 7200
    assert s.use_cache is False
    assert s.provenance == {
        "role_arn": "--role-arn",
        "duration_seconds": envvars.DURATION_SECONDS,
        "no_cache": envvars.NO_CACHE,
    }
    assert s.raw["role_arn"] == ROLE


def test_all_values_parsed(tmp_path: Path) -> None:
    s = settings.load(
        {
            "role_arn": ROLE,
            "audience": "my-aud",
            "role_session_name": "sess",
            "duration_seconds": "900",
            "region": "eu-west-1",
            "policy_arns": "arn:aws:iam::aws:policy/A,arn:aws:iam::aws:policy/B",
            "cache_dir": str(tmp_path / "c"),
            "refresh_window": "60",
            "timeout": "2.5",
            "token_source": "metadata",
            "delegates": "a@x, b@y ,",
            "debug": True,
        },
        {},
    )
    assert (s.audience, s.role_session_name, s.duration_seconds, s.region) == (
        "my-aud",
        "sess",
        900,
        "eu-west-1",
    )
    assert s.policy_arns == ("arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B")
    assert s.cache_dir == str(tmp_path / "c")
    assert (s.refresh_window, s.timeout, s.token_source, s.debug) == (60, 2.5, "metadata", True)
    assert s.delegates == ("a@x", "b@y")


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"role_arn": "arn:aws:iam::1:role/x"}, "invalid role ARN"),
        ({"duration_seconds": "60"}, "out of range"),
        ({"duration_seconds": "abc"}, "invalid duration"),
        ({"role_session_name": "a b"}, "invalid role session name"),
        ({"region": "nowhere"}, "invalid region"),
        ({"timeout": "0"}, "timeout"),
        ({"refresh_window": "soon"}, "refresh window"),
        ({"token_source": "carrier-pigeon"}, "unknown token source"),
        ({"session_policy": "{"}, "not valid JSON"),
        ({"policy_arns": "nope"}, "invalid policy ARN"),
        ({"audience": "two words"}, "invalid audience"),
    ],
)
def test_invalid_values_are_usage_errors(cli: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings.load(cli, {})


def test_session_policy_from_file(tmp_path: Path) -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc, indent=2))
    s = settings.load({"session_policy": f"@{path}"}, {})
    assert s.session_policy is not None
    assert json.loads(s.session_policy) == doc


def test_session_policy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read session policy file"):
        settings.load({"session_policy": f"@{tmp_path}/missing.json"}, {})


def test_credentials_file_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = settings.load({"credentials_file": "~/key.json"}, {})
    assert s.credentials_file == str(tmp_path / "key.json")


def test_cache_key_parts_follow_raw(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    a = settings.load({"role_arn": ROLE}, environ).cache_key_parts(environ)
    b = settings.load({"role_arn": ROLE, "timeout": "5"}, environ).cache_key_parts(environ)
    c = settings.load({"role_arn": ROLE, "duration_seconds": "900"}, environ).cache_key_parts(
        environ
    )
    assert a == b
    assert a != c


def test_settings_are_frozen() -> None:
    s = settings.load({"role_arn": ROLE}, {})
    with pytest.raises(AttributeError):
        s.role_arn = "x"  # type: ignore[misc]
