"""Tests for the trust-policy generator and its renderers, through the real parsers and CLIs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint
from hypothesis import given, settings
from hypothesis import strategies as st

from gcp2aws.errors import TokenInvalidError, UsageError
from gcp2aws.models import IdToken
from gcp2aws.policy.generate import FORMATS, render, trust_policy
from tests.support.terraform import hcl_unquote, parse_terraform

UNIQUE_ID = "109876543210987654321"
SA_EMAIL = "robot@my-project.iam.gserviceaccount.com"


def make_token(**claims: Any) -> IdToken:
    return IdToken(raw="not-a-real-token", header={"alg": "RS256"}, claims=claims)


GCE_TOKEN = make_token(azp=UNIQUE_ID, aud="gcp", sub=UNIQUE_ID, email=SA_EMAIL)
KEYFILE_TOKEN = make_token(azp=SA_EMAIL, aud="https://aws.example", sub=UNIQUE_ID)

# Strings that break naive quoting in at least one of the output formats.
TRICKY = [
    "plain",
    'double "quoted"',
    "single 'quoted'",
    "back\\slash",
    "${interpolation} and %{directive}",
    "$${already} %%{escaped}",
    "yes",
    "1e3",
    "null",
    "* ? [x]",
    "line\nbreak\ttab",
    "caf\u00e9 \u2603 \U0001f600",
    "-starts-with-dash",
    "file://not-a-file",
]


def tricky_policy(value: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Tricky",
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": ["sts:AssumeRoleWithWebIdentity"],
                "Condition": {
                    "StringEquals": {"accounts.google.com:oaud": [value, "other"]},
                    "StringLike": {"sts:RoleSessionName": value},
                },
            }
        ],
    }


# --- trust_policy ------------------------------------------------------------------------------


def test_trust_policy_for_gce_token_binds_numeric_azp_and_audience() -> None:
    policy = trust_policy(GCE_TOKEN)
    assert policy["Version"] == "2012-10-17"
    (statement,) = policy["Statement"]
    assert statement["Sid"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": "accounts.google.com"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {"accounts.google.com:aud": UNIQUE_ID, "accounts.google.com:oaud": "gcp"}
    }


def test_trust_policy_for_key_file_token_binds_email_azp() -> None:
    conditions = trust_policy(KEYFILE_TOKEN)["Statement"][0]["Condition"]["StringEquals"]
    assert conditions["accounts.google.com:aud"] == SA_EMAIL
    assert conditions["accounts.google.com:oaud"] == "https://aws.example"


def test_trust_policy_without_azp_uses_aud_as_aws_does() -> None:
    token = make_token(aud="only-aud", sub=UNIQUE_ID)
    conditions = trust_policy(token)["Statement"][0]["Condition"]["StringEquals"]
    assert conditions["accounts.google.com:aud"] == "only-aud"
    assert conditions["accounts.google.com:oaud"] == "only-aud"


def test_trust_policy_audience_override_and_session_pattern() -> None:
    policy = trust_policy(GCE_TOKEN, audience="sts.amazonaws.com", session_name_pattern="vm-*")
    condition = policy["Statement"][0]["Condition"]
    assert condition["StringEquals"]["accounts.google.com:oaud"] == "sts.amazonaws.com"
    assert condition["StringEquals"]["accounts.google.com:aud"] == UNIQUE_ID
    assert condition["StringLike"] == {"sts:RoleSessionName": "vm-*"}


def test_trust_policy_rejects_token_without_audience_claims() -> None:
    with pytest.raises(TokenInvalidError, match="neither an azp nor an aud"):
        trust_policy(make_token(sub=UNIQUE_ID))


# --- render: errors ----------------------------------------------------------------------------


def test_render_unknown_format_is_usage_error() -> None:
    with pytest.raises(UsageError, match="Unknown policy format 'yaml'") as info:
        render(trust_policy(GCE_TOKEN), "yaml")
    assert "terraform" in info.value.hint


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "semi;colon", "quote'"])
def test_render_rejects_invalid_role_names(name: str) -> None:
    with pytest.raises(UsageError, match="Invalid role name"):
        render(trust_policy(GCE_TOKEN), "json", role_name=name)


def test_render_rejects_invalid_description() -> None:
    with pytest.raises(UsageError, match="description"):
        render(trust_policy(GCE_TOKEN), "json", description="snow \u2603")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_newline(fmt: str) -> None:
    assert render(trust_policy(GCE_TOKEN), fmt).endswith("\n")


# --- json --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", TRICKY)
def test_json_round_trips(value: str) -> None:
    policy = tricky_policy(value)
    assert json.loads(render(policy, "json")) == policy


# --- terraform ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", TRICKY)
def test_terraform_round_trips_through_python_hcl2(value: str) -> None:
    policy = tricky_policy(value)
    role, parsed = parse_terraform(render(policy, "terraform", role_name="my.role+1"))
    assert parsed == policy
    assert hcl_unquote(role["name"]) == "my.role+1"
    assert role["max_session_duration"] == 3600


def test_terraform_renders_json_scalars() -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "x": [True, 3, None]}]}
    _, parsed = parse_terraform(render(policy, "terraform"))
    assert parsed["Statement"][0]["x"] == [True, 3, None]


def test_terraform_description_with_template_syntax_stays_literal() -> None:
    role, _ = parse_terraform(render(trust_policy(GCE_TOKEN), "terraform", description="a ${b}"))
    assert hcl_unquote(role["description"]) == "a ${b}"


# --- cloudformation ----------------------------------------------------------------------------


def test_cloudformation_passes_cfn_lint() -> None:
    text = render(trust_policy(GCE_TOKEN, session_name_pattern="gce-*"), "cloudformation")
    matches = lint(text)
    assert [str(m) for m in matches] == []


def test_cloudformation_lint_catches_a_broken_template() -> None:
    # Guards the test above: cfn-lint really validates the trust policy we emit.
    policy = trust_policy(GCE_TOKEN)
    policy["Statement"][0]["Efect"] = "Allow"
    assert lint(render(policy, "cloudformation"))


@pytest.mark.parametrize("value", TRICKY)
def test_cloudformation_round_trips_through_yaml(value: str) -> None:
    policy = tricky_policy(value)
    template = yaml.safe_load(render(policy, "cloudformation"))
    props = template["Resources"]["Role"]["Properties"]
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Resources"]["Role"]["Type"] == "AWS::IAM::Role"
    assert props["AssumeRolePolicyDocument"] == policy
    assert props["MaxSessionDuration"] == 3600
    assert props["RoleName"] == "gcp2aws"


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_yaml_and_hcl_round_trip_any_text(value: str) -> None:
    policy = tricky_policy(value)
    doc = yaml.safe_load(render(policy, "cloudformation"))
    assert doc["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"] == policy
    if _python_hcl2_reads(value):
        assert parse_terraform(render(policy, "terraform"))[1] == policy


def _python_hcl2_reads(value: str) -> bool:
    """python-hcl2 rejects an escaped $${ or %%{ with no later '}' (Terraform accepts it)."""
    for marker in ("${", "%{"):
        start = value.find(marker)
        while start != -1:
            if "}" not in value[start:]:
                return False
            start = value.find(marker, start + 1)
    return True


@pytest.mark.parametrize(("value", "escaped"), [("${", '"$${"'), ("a %{ b", '"a %%{ b"')])
def test_terraform_escapes_unclosed_template_markers(value: str, escaped: str) -> None:
    text = render(tricky_policy(value), "terraform")
    assert f'"sts:RoleSessionName" = {escaped}' in text


# --- aws-cli -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def run_aws(args: list[str], endpoint: str, home: Path) -> dict[str, Any]:
    assert args[0] == "aws"
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", *args[1:], "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def cli_commands(text: str) -> list[list[str]]:
    return [shlex.split(line) for line in text.splitlines() if not line.startswith("#")]


def stored_trust_policy(role: Mapping[str, Any]) -> Any:
    document = role["AssumeRolePolicyDocument"]
    # IAM returns the document URL-encoded; the CLI decodes it to an object.
    return json.loads(document) if isinstance(document, str) else document


@pytest.mark.e2e
@pytest.mark.parametrize(("suffix", "value"), [("a", "gce-*"), ("b", 'it\'s "$HOME" `id` ${x}')])
def test_aws_cli_commands_create_and_update_the_role(
    suffix: str, value: str, moto_endpoint: str, tmp_path: Path
) -> None:
    role_name = f"gcp2aws-{suffix}+=,.@_-"
    description = 'It\'s "quoted" and $HOME `id`'
    initial = trust_policy(GCE_TOKEN)
    create, _ = cli_commands(
        render(initial, "aws-cli", role_name=role_name, description=description)
    )
    created = run_aws(create, moto_endpoint, tmp_path)["Role"]
    assert created["RoleName"] == role_name

    updated = tricky_policy(value)
    _, update = cli_commands(render(updated, "aws-cli", role_name=role_name))
    run_aws(update, moto_endpoint, tmp_path)

    role = run_aws(["aws", "iam", "get-role", "--role-name", role_name], moto_endpoint, tmp_path)
    assert role["Role"]["Description"] == description
    assert role["Role"]["MaxSessionDuration"] == 3600
    assert stored_trust_policy(role["Role"]) == updated


@pytest.mark.e2e
def test_aws_cli_create_role_stores_the_generated_policy(
    moto_endpoint: str, tmp_path: Path
) -> None:
    policy = trust_policy(KEYFILE_TOKEN, session_name_pattern="key-*")
    create, _ = cli_commands(render(policy, "aws-cli", role_name="keyfile-role"))
    run_aws(create, moto_endpoint, tmp_path)
    role = run_aws(
        ["aws", "iam", "get-role", "--role-name", "keyfile-role"], moto_endpoint, tmp_path
    )
    assert stored_trust_policy(role["Role"]) == policy


def test_aws_cli_lines_are_two_commands_with_compact_json() -> None:
    text = render(trust_policy(GCE_TOKEN), "aws-cli", role_name="r")
    create, update = cli_commands(text)
    assert create[:3] == ["aws", "iam", "create-role"]
    assert update[:3] == ["aws", "iam", "update-assume-role-policy"]
    document = create[create.index("--assume-role-policy-document") + 1]
    assert " " not in document
    assert json.loads(document) == trust_policy(GCE_TOKEN)
    assert json.loads(update[update.index("--policy-document") + 1]) == trust_policy(GCE_TOKEN)
