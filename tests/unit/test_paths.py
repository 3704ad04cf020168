"""Unit tests for gcp2aws.paths: every file location, from the given environment only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gcp2aws import options, paths
from gcp2aws.awsconfig.file import config_path


def test_aws_config_file_expands_home_and_variables_from_environ() -> None:
    assert paths.aws_config_file({"HOME": "/h"}) == "/h/.aws/config"
    assert paths.aws_config_file({"HOME": "/h", "AWS_CONFIG_FILE": "~/x"}) == "/h/x"
    env = {"HOME": "/h", "AWS_CONFIG_FILE": "$D/${N}/c", "D": "/d", "N": "n"}
    assert paths.aws_config_file(env) == "/d/n/c"
    assert paths.aws_config_file({"AWS_CONFIG_FILE": "/a/$UNSET"}) == "/a/$UNSET"
    assert str(config_path({"HOME": "/h", "AWS_CONFIG_FILE": "~/x"})) == "/h/x"


def test_google_files_and_cache_dir() -> None:
    assert paths.google_credentials_file(None, {}) is None
    assert paths.google_credentials_file("~/k.json", {"HOME": "/h"}) == "/h/k.json"
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "/etc/key.json"}
    assert paths.google_credentials_file(None, env) == "/etc/key.json"
    assert paths.google_credentials_file("/other.json", env) == "/other.json"
    assert paths.gcloud_adc_file({"CLOUDSDK_CONFIG": "/cfg"}) == (
        "/cfg/application_default_credentials.json"
    )
    assert paths.gcloud_adc_file({"HOME": "/h"}) == (
        "/h/.config/gcloud/application_default_credentials.json"
    )
    assert paths.cache_dir("~/c", {"HOME": "/h"}) == "/h/c"
    assert paths.cache_dir(None, {"HOME": "/h", "XDG_CACHE_HOME": "/x"}) == "/x/gcp2aws"
    assert paths.cache_dir(None, {"HOME": "/h", "XDG_CACHE_HOME": "rel"}) == "/h/.cache/gcp2aws"


def test_tilde_user_is_left_to_the_os() -> None:
    assert paths.expand_user("~root/x", {"HOME": "/h"}) == os.path.expanduser("~root/x")


def test_cache_key_stamps_an_aws_config_file_given_with_tilde(tmp_path: Path) -> None:
    # AWS_CONFIG_FILE=~/x used to be stamped "-" (never found), so editing the profile
    # never invalidated the cached credentials.
    config = tmp_path / "x"
    config.write_text("[default]\nregion = eu-west-1\n")
    env = {"HOME": str(tmp_path), "AWS_CONFIG_FILE": "~/x"}
    raw = {"role_arn": "arn:aws:iam::123456789012:role/r"}
    before = options.key_parts(raw, env)["stamp.aws_config"]
    assert before != "-"
    config.write_text("[default]\nregion = eu-west-2\nsts_regional_endpoints = regional\n")
    assert options.key_parts(raw, env)["stamp.aws_config"] != before


@pytest.mark.parametrize("name", ["AWS_CONFIG_FILE", "GOOGLE_APPLICATION_CREDENTIALS"])
def test_key_stamps_come_from_the_given_environ_not_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    target = tmp_path / "f"
    target.write_text("{}")
    monkeypatch.setenv("HOME", "/nonexistent")
    parts = options.key_parts({}, {"HOME": str(tmp_path), name: "~/f"})
    assert "-" not in (
        parts["stamp.aws_config"]
        if name == "AWS_CONFIG_FILE"
        else parts["stamp.google_credentials"]
    )


def test_settings_expand_tilde_against_the_given_environ(tmp_path: Path) -> None:
    from gcp2aws import settings

    policy = tmp_path / "p.json"
    policy.write_text('{"Version":"2012-10-17","Statement":[]}')
    env = {"HOME": str(tmp_path)}
    loaded = settings.load(
        {"session_policy": "@~/p.json", "token_file": "~/t", "credentials_file": "~/k.json"}, env
    )
    assert loaded.session_policy == policy.read_text()
    assert loaded.token_file == f"{tmp_path}/t"
    assert loaded.credentials_file == f"{tmp_path}/k.json"
