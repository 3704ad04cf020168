"""``gcp2aws env``: real output, evaluated by real shells, against the emulators and moto."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

NAMES = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_ACCOUNT_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
]


def _expected(env: Env) -> dict[str, str]:
    proc = run_gcp2aws(
        ["env", "--format", "json", "--role-arn", ROLE_ARN, "--region", "eu-west-1"], env.values
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc


def test_json_has_every_variable_and_matches_credentials(env: Env) -> None:
    doc = _expected(env)
    assert list(doc) == NAMES
    assert doc["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert doc["AWS_CREDENTIAL_EXPIRATION"].endswith("Z")
    assert doc["AWS_REGION"] == doc["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert doc["AWS_ACCOUNT_ID"] == ROLE_ARN.split(":")[4]  # the assumed role's account
    cli = ["credentials", "--role-arn", ROLE_ARN, "--region", "eu-west-1"]
    creds = json.loads(run_gcp2aws(cli, env.values).stdout)
    # Same cache entry: `env` and `credentials` hand out the same set.
    assert creds["AccessKeyId"] == doc["AWS_ACCESS_KEY_ID"]
    assert creds["SessionToken"] == doc["AWS_SESSION_TOKEN"]


def test_no_region_means_no_region_variables(env: Env) -> None:
    proc = run_gcp2aws(["env", "--format", "json", "--role-arn", ROLE_ARN], env.values)
    assert proc.returncode == 0, proc.stderr
    assert "AWS_REGION" not in json.loads(proc.stdout)


@pytest.mark.parametrize("shell", [s for s in ("bash", "dash") if shutil.which(s)])
def test_sh_output_evaluated_by_real_shell(env: Env, shell: str) -> None:
    expected = _expected(env)
    printer = "; ".join(f'printf "%s\\0" "${n}"' for n in NAMES)
    cmd = f'eval "$("$GCP2AWS" env --role-arn "$ROLE" --region eu-west-1)"; {printer}'
    proc = subprocess.run(
        [shell, "-c", cmd],
        env=env.with_(GCP2AWS=gcp2aws_exe(), ROLE=ROLE_ARN),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(b"\0")[:-1] == [expected[n].encode() for n in NAMES]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_output_sourced_by_real_fish(env: Env) -> None:
    expected = _expected(env)
    printer = "; ".join(f'printf "%s\\0" "${n}"' for n in NAMES)
    cmd = f"$GCP2AWS env --format fish --role-arn $ROLE --region eu-west-1 | source; {printer}"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", cmd],
        env=env.with_(GCP2AWS=gcp2aws_exe(), ROLE=ROLE_ARN, LC_ALL="C.UTF-8"),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(b"\0")[:-1] == [expected[n].encode() for n in NAMES]


def test_dotenv_output_read_by_python_dotenv(env: Env) -> None:
    dotenv = pytest.importorskip("dotenv")
    expected = _expected(env)
    proc = run_gcp2aws(
        ["env", "--format", "dotenv", "--role-arn", ROLE_ARN, "--region", "eu-west-1"], env.values
    )
    assert proc.returncode == 0, proc.stderr
    assert dotenv.dotenv_values(stream=io.StringIO(proc.stdout)) == expected


def test_powershell_output_shape(env: Env) -> None:
    expected = _expected(env)
    proc = run_gcp2aws(
        ["env", "--format", "powershell", "--role-arn", ROLE_ARN, "--region", "eu-west-1"],
        env.values,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"$Env:{n} = '{expected[n]}'" for n in NAMES]


def test_env_output_works_for_the_aws_cli(env: Env) -> None:
    """The variables are what the AWS CLI expects: it calls STS with them."""
    expected = _expected(env)
    aws = shutil.which("aws", path=os.path.dirname(gcp2aws_exe()) + os.pathsep + os.defpath)
    if aws is None:
        pytest.skip("aws CLI not installed")
    values = {k: v for k, v in expected.items() if k != "AWS_CREDENTIAL_EXPIRATION"}
    proc = subprocess.run(
        [aws, "sts", "get-caller-identity", "--output", "json"],
        env=env.with_(**values),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert ":assumed-role/gcp2aws-test/" in json.loads(proc.stdout)["Arn"]


def test_missing_role_is_a_clean_usage_error(env: Env) -> None:
    assert_clean_failure(run_gcp2aws(["env"], env.values), 2)


def test_unknown_format_is_a_usage_error(env: Env) -> None:
    proc = run_gcp2aws(["env", "--format", "csh", "--role-arn", ROLE_ARN], env.values)
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_exec_gives_the_account_to_boto3_and_the_aws_cli(env: Env) -> None:
    """botocore reads AWS_ACCOUNT_ID into the credentials (account-based endpoints)."""
    account = ROLE_ARN.split(":")[4]
    code = (
        "import boto3; print(boto3.Session().get_credentials().get_frozen_credentials().account_id)"
    )
    boto3 = run_gcp2aws(
        ["exec", "--role-arn", ROLE_ARN, "--", sys.executable, "-c", code],
        env.with_(AWS_ACCOUNT_ID="999999999999"),  # a stale parent value is replaced
    )
    assert boto3.returncode == 0, boto3.stderr
    assert boto3.stdout.strip() == account
    aws = str(Path(sys.executable).with_name("aws"))
    cli = run_gcp2aws(
        ["exec", "--role-arn", ROLE_ARN, "--", aws, "sts", "get-caller-identity",
         "--query", "Account", "--output", "text"],
        env.values,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == account
