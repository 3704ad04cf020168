"""The real AWS CLI (the ``awscli`` package) runs ``gcp2aws credentials`` as its credential_process
against the metadata emulator and a local STS, and gets the assumed role back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe

pytestmark = pytest.mark.e2e

ASSUMED = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"


def aws_exe() -> str:
    exe = Path(sys.executable).parent / "aws"
    if exe.exists():
        return str(exe)
    found = shutil.which("aws")
    if found is None:
        pytest.skip("the AWS CLI (awscli package) is not installed")
    return found


def write_profile(home: Path, command: str) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir(exist_ok=True)
    config.write_text(f"[profile gcp]\ncredential_process = {command}\nregion = us-east-1\n")


def aws(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [aws_exe(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_get_caller_identity_through_credential_process(
    env: Env, isolated_env: Path, metadata: Any, local_sts: Any
) -> None:
    write_profile(isolated_env, f"{gcp2aws_exe()} credentials --role-arn {ROLE_ARN}")
    for _ in range(2):
        proc = aws(
            ["sts", "get-caller-identity", "--profile", "gcp", "--output", "json"], env.values
        )
        assert proc.returncode == 0, proc.stderr
        identity = json.loads(proc.stdout)
        assert identity["Arn"] == ASSUMED
        assert identity["Account"] == "123456789012"
    # Two AWS CLI commands, one exchange: the second was a gcp2aws cache hit.
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert local_sts.calls["GetCallerIdentity"] == 2
    assert metadata.identity_calls == 1


def test_role_from_the_environment_and_default_profile(
    env: Env, isolated_env: Path, local_sts: Any
) -> None:
    config = isolated_env / ".aws" / "config"
    config.parent.mkdir(exist_ok=True)
    config.write_text(f"[default]\ncredential_process = {gcp2aws_exe()} credentials\n")
    proc = aws(
        ["sts", "get-caller-identity", "--output", "json"], env.with_(GCP2AWS_ROLE_ARN=ROLE_ARN)
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["Arn"] == ASSUMED


def test_failure_reaches_the_aws_cli_user_as_one_line(
    env: Env, isolated_env: Path, local_sts: Any
) -> None:
    from gcp2aws.emulator.faults import StsError

    write_profile(isolated_env, f"{gcp2aws_exe()} credentials --role-arn {ROLE_ARN}")
    local_sts.inject(StsError("AccessDenied", "Not authorized", 403), times=5)
    proc = aws(["sts", "get-caller-identity", "--profile", "gcp"], env.values)
    assert proc.returncode != 0
    assert "gcp2aws: error: STS AccessDenied" in proc.stderr
    assert "accounts.google.com:oaud" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert local_sts.calls["GetCallerIdentity"] == 0
