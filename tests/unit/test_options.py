"""Unit tests for gcp2aws.options: option table, raw resolution, fast parser, cache inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gcp2aws import envvars, options
from gcp2aws.cli.app import build_parser
from gcp2aws.cli.common import exchange_flags

ROLE = "arn:aws:iam::123456789012:role/r"


def test_every_option_has_a_unique_flag_and_env_var() -> None:
    flags = [flag for _, flag, _, _, _ in options.OPTIONS]
    env_names = [env for _, _, env, _, _ in options.OPTIONS]
    assert len(set(flags)) == len(flags)
    assert len(set(env_names)) == len(env_names)
    assert all(flag.startswith("--") for flag in flags)
    assert all(env.startswith("GCP2AWS_") for env in env_names)


def test_argparse_and_fast_parser_agree() -> None:
    """Both parsers are built from OPTIONS: the same argv must give the same values."""
    argv = []
    for dest, flag, _env, takes_value, _help in options.OPTIONS:
        argv += [flag, f"v-{dest}"] if takes_value else [flag]
    fast = options.parse_fast(argv)
    assert fast is not None
    argv += ["--chain-role-arn", "second-hop"]  # a repeatable flag, given twice
    fast = options.parse_fast(argv)
    assert fast is not None
    flags = exchange_flags(build_parser().parse_args(["credentials", *argv]))
    for dest, *_ in options.OPTIONS:
        assert flags[dest] == fast[dest], dest
    assert fast["chain_role_arns"] == "v-chain_role_arns,second-hop"


def test_resolve_raw_flags_win_over_env() -> None:
    environ = {envvars.ROLE_ARN: "from-env", envvars.AUDIENCE: "aud-env"}
    raw = options.resolve_raw({"role_arn": "from-flag", "audience": None}, environ)
    assert raw == {"role_arn": "from-flag", "audience": "aud-env"}


def test_resolve_raw_strips_and_drops_empty() -> None:
    environ = {envvars.ROLE_ARN: f"  {ROLE}\n", envvars.REGION: "   "}
    assert options.resolve_raw({}, environ) == {"role_arn": ROLE}


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("no", False),
        ("", False),
    ],
)
def test_resolve_raw_switch_from_env(value: str, on: bool) -> None:
    raw = options.resolve_raw({}, {envvars.NO_CACHE: value})
    assert ("no_cache" in raw) is on
    if on:
        assert raw["no_cache"] == "1"


def test_resolve_raw_switch_from_flag() -> None:
    assert options.resolve_raw({"debug": True, "no_cache": False}, {}) == {"debug": "1"}


def test_parse_fast_forms() -> None:
    assert options.parse_fast([]) == {}
    assert options.parse_fast(["--role-arn", ROLE, "--no-cache"]) == {
        "role_arn": ROLE,
        "no_cache": True,
    }
    assert options.parse_fast([f"--role-arn={ROLE}", "--timeout=5"]) == {
        "role_arn": ROLE,
        "timeout": "5",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["-h"],
        ["--bogus"],
        ["--role-arn"],
        ["--role-arn", "--no-cache"],
        ["--no-cache=1"],
        ["positional"],
        ["--role-arn", ROLE, "extra"],
    ],
)
def test_parse_fast_defers_unusual_input(argv: list[str]) -> None:
    assert options.parse_fast(argv) is None


def test_key_parts_ignores_switches_and_cache_settings(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    base = options.key_parts({"role_arn": ROLE}, environ)
    noisy = options.key_parts(
        {
            "role_arn": ROLE,
            "no_cache": "1",
            "debug": "1",
            "cache_dir": "/x",
            "refresh_window": "5",
            "timeout": "3",
        },
        environ,
    )
    assert base == noisy
    other = options.key_parts({"role_arn": ROLE, "audience": "other"}, environ)
    assert other != base


def test_key_parts_includes_endpoint_and_source_inputs(tmp_path: Path) -> None:
    environ = {
        "HOME": str(tmp_path),
        envvars.AWS_ENDPOINT_URL_STS: "http://127.0.0.1:1",
        envvars.GCE_METADATA_HOST: "127.0.0.1:2",
        envvars.AWS_REGION: "eu-west-1",
        "UNRELATED": "x",
    }
    parts = options.key_parts({"role_arn": ROLE}, environ)
    assert parts["env.AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:1"
    assert parts["env.GCE_METADATA_HOST"] == "127.0.0.1:2"
    assert parts["env.AWS_REGION"] == "eu-west-1"
    assert not any("UNRELATED" in k for k in parts)


def test_key_parts_changes_with_the_aws_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config"
    environ = {envvars.AWS_CONFIG_FILE: str(config)}
    missing = options.key_parts({"role_arn": ROLE}, environ)
    assert missing["stamp.aws_config"] == "-"
    config.write_text("[default]\nregion = eu-west-1\n")
    first = options.key_parts({"role_arn": ROLE}, environ)
    config.write_text("[default]\nregion = eu-central-1\n")
    os.utime(config, ns=(1, 1))
    second = options.key_parts({"role_arn": ROLE}, environ)
    assert first["stamp.aws_config"] != "-"
    assert first["stamp.aws_config"] != second["stamp.aws_config"]


def test_key_parts_defaults_to_home_aws_config(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\n")
    parts = options.key_parts({"role_arn": ROLE}, {"HOME": str(tmp_path)})
    assert parts["stamp.aws_config"] != "-"


def test_cache_dir_resolution(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert options.cache_dir({"cache_dir": "/c/d"}, {}) == "/c/d"
    assert options.cache_dir({"cache_dir": "~/c"}, {"HOME": home}) == home + "/c"
    assert options.cache_dir({}, {"XDG_CACHE_HOME": "/xdg", "HOME": home}) == "/xdg/gcp2aws"
    # A relative XDG_CACHE_HOME is invalid per the XDG spec and ignored.
    assert options.cache_dir({}, {"XDG_CACHE_HOME": "rel", "HOME": home}) == os.path.join(
        home, ".cache", "gcp2aws"
    )
    assert options.cache_dir({}, {"HOME": home}) == os.path.join(home, ".cache", "gcp2aws")


def test_refresh_window() -> None:
    assert options.refresh_window({}) == options.DEFAULT_REFRESH_WINDOW == 1200
    assert options.refresh_window({"refresh_window": "60"}) == 60
    assert options.refresh_window({"refresh_window": "-5"}) == options.DEFAULT_REFRESH_WINDOW


def test_key_parts_name_the_configured_source_without_probing(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert options.key_parts({}, env)["source"] == "ambient"
    assert options.key_parts({"token_file": "/t"}, env)["source"] == "file"
    assert options.key_parts({"token_command": "x"}, env)["source"] == "command"
    impersonate = {"impersonate_service_account": "sa@p.iam.gserviceaccount.com"}
    assert options.key_parts(impersonate, env)["source"] == "impersonate"
    assert options.key_parts({"token_source": "metadata"}, env)["source"] == "metadata"
    with_file = {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "key.json")}
    assert options.key_parts({}, with_file)["source"] == "credentials-file"


def test_key_parts_change_when_the_key_file_is_replaced(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account"}')
    env = {"HOME": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    first = options.key_parts({}, env)
    key.write_text('{"type": "service_account", "client_email": "other@p.iam"}')
    second = options.key_parts({}, env)
    assert first["stamp.google_credentials"] != second["stamp.google_credentials"]


def test_key_parts_survive_a_nul_in_a_file_path(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": "/tmp/a\x00b"}
    assert options.key_parts({}, env)["stamp.google_credentials"] == "-"


def test_parse_flags_speaks_argparse_and_takes_unique_prefixes() -> None:
    parsed = options.parse_flags(["--role-a", "R", "--dur=900", "--no-cache"])
    assert parsed == {"role_arn": "R", "duration_seconds": "900", "no_cache": True}
    with pytest.raises(options.FlagError, match=r"^unrecognized arguments: -r R$"):
        options.parse_flags(["-r", "R"])
    with pytest.raises(options.FlagError, match=r"^argument --role-arn: expected one argument$"):
        options.parse_flags(["--role-arn"])
    with pytest.raises(options.FlagError, match="ignored explicit argument"):
        options.parse_flags(["--debug=1"])
    with pytest.raises(options.FlagError, match="ambiguous option: --role could match --role-arn"):
        options.parse_flags(["--role", "x"])
    assert options.parse_fast(["--role-a", "R"]) is None  # abbreviations go to argparse
