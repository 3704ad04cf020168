"""``gcp2aws policy``: the trust policy for the token really in use, in every output format,
each read back by the tool that consumes it (python-hcl2, cfn-lint, the AWS CLI against moto)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint

from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import Env, assert_clean_failure, run_gcp2aws
from tests.support.terraform import parse_terraform

AUD = "accounts.google.com:aud"
OAUD = "accounts.google.com:oaud"
SA = "keyed@demo-project.iam.gserviceaccount.com"


def policy(env: dict[str, str], *args: str) -> str:
    proc = run_gcp2aws(["policy", *args], env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def statement(doc: dict[str, Any]) -> dict[str, Any]:
    assert doc["Version"] == "2012-10-17"
    (only,) = doc["Statement"]
    assert only["Effect"] == "Allow"
    assert only["Principal"] == {"Federated": "accounts.google.com"}
    assert only["Action"] == "sts:AssumeRoleWithWebIdentity"
    return dict(only)


def test_json_binds_numeric_azp_and_default_audience(env: Env, metadata: MetadataEmulator) -> None:
    cond = statement(json.loads(policy(env.values)))["Condition"]
    assert cond == {"StringEquals": {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"}}
    assert metadata.unique_id.isdigit()
    # It fetched a real token for that audience: no guessing from configuration.
    assert metadata.identity_calls >= 1
    assert metadata.last_audience == "sts.amazonaws.com"


def test_audience_flag_goes_to_oaud_and_to_the_request(
    env: Env, metadata: MetadataEmulator
) -> None:
    doc = json.loads(policy(env.values, "--audience", "https://aws.example/gcp"))
    cond = statement(doc)["Condition"]["StringEquals"]
    assert cond == {AUD: metadata.unique_id, OAUD: "https://aws.example/gcp"}
    assert metadata.last_audience == "https://aws.example/gcp"


def test_role_session_name_pattern_adds_string_like(env: Env, metadata: MetadataEmulator) -> None:
    doc = json.loads(policy(env.values, "--role-session-name", "demo-*"))
    cond = statement(doc)["Condition"]
    assert cond["StringLike"] == {"sts:RoleSessionName": "demo-*"}
    assert cond["StringEquals"][AUD] == metadata.unique_id


def test_terraform_parses_with_python_hcl2(env: Env, metadata: MetadataEmulator) -> None:
    text = policy(env.values, "--format", "terraform", "--role-session-name", "vm-?-*")
    role, parsed = parse_terraform(text)
    cond = statement(parsed)["Condition"]
    assert cond["StringEquals"] == {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"}
    assert cond["StringLike"] == {"sts:RoleSessionName": "vm-?-*"}
    assert role["name"] == '"gcp2aws"'


def test_cloudformation_passes_cfn_lint(env: Env, metadata: MetadataEmulator) -> None:
    import yaml

    args = ["--format", "cloudformation", "--role-name", "ci-role", "--role-session-name", "x*"]
    text = policy(env.values, *args)
    assert [str(m) for m in lint(text)] == []
    props = yaml.safe_load(text)["Resources"]["Role"]["Properties"]
    assert props["RoleName"] == "ci-role"
    cond = statement(props["AssumeRolePolicyDocument"])["Condition"]
    assert cond["StringEquals"][AUD] == metadata.unique_id
    assert cond["StringLike"] == {"sts:RoleSessionName": "x*"}


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def run_aws(words: list[str], endpoint: str, home: Path) -> Any:
    """Run one printed ``aws ...`` line with the real AWS CLI against moto's IAM."""
    assert words[0] == "aws"
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_IAM": endpoint,
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "awscli", *words[1:], "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.mark.e2e
def test_aws_cli_lines_run_with_the_real_aws_cli(
    env: Env, metadata: MetadataEmulator, moto_iam: str, tmp_path: Path
) -> None:
    name = f"policy-cli-{metadata.unique_id[:8]}"
    text = policy(
        env.values, "--format", "aws-cli", "--role-name", name, "--role-session-name", "gce-*"
    )
    commands = [shlex.split(line) for line in text.splitlines() if not line.startswith("#")]
    create, update = commands
    assert create[:3] == ["aws", "iam", "create-role"]
    assert update[:3] == ["aws", "iam", "update-assume-role-policy"]
    run_aws(create, moto_iam, tmp_path)
    run_aws(update, moto_iam, tmp_path)
    role = run_aws(["aws", "iam", "get-role", "--role-name", name], moto_iam, tmp_path)["Role"]
    document = role["AssumeRolePolicyDocument"]
    stored = json.loads(document) if isinstance(document, str) else document
    cond = statement(stored)["Condition"]
    assert cond["StringEquals"] == {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"}
    assert cond["StringLike"] == {"sts:RoleSessionName": "gce-*"}


def test_service_account_key_file_binds_the_email(env: Env, tmp_path: Path) -> None:
    with GoogleApisEmulator() as apis:
        key = apis.create_service_account_key(SA)
        path = tmp_path / "key.json"
        path.write_text(json.dumps(key))
        values = env.with_(
            GOOGLE_APPLICATION_CREDENTIALS=str(path),
            GCP2AWS_OAUTH_TOKEN_URI=apis.token_uri,
            GCP2AWS_IAM_CREDENTIALS_ENDPOINT=apis.iam_endpoint,
        )
        doc = json.loads(policy(values, "--audience", "https://aws.example"))
        assert apis.token_calls >= 1
    cond = statement(doc)["Condition"]["StringEquals"]
    # Key-file tokens carry the email as azp, so that is what :aud must hold.
    assert cond == {AUD: SA, OAUD: "https://aws.example"}


def test_no_token_source_is_a_clean_failure(env: Env, tmp_path: Path) -> None:
    # Not on Google Cloud: no metadata host, nothing at the detection address.
    values = {k: v for k, v in env.values.items() if k != "GCE_METADATA_HOST"}
    values["GCE_METADATA_IP"] = "127.0.0.1:9"
    proc = run_gcp2aws(["policy", "--timeout", "5"], values)
    assert_clean_failure(proc, 3)
    assert "not on Google Cloud" in proc.stderr


def test_unknown_format_is_a_usage_error(env: Env) -> None:
    proc = run_gcp2aws(["policy", "--format", "yaml"], env.values)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "invalid choice" in proc.stderr
