"""The Compute Engine quickstart as a newcomer runs it: nothing exported but what points at the
local servers, a fresh HOME, and the real AWS CLI v1 (PyPI) and v2 (Debian's ``awscli``).

A VM in ``asia-northeast1-b`` runs ``gcp2aws init --role-arn ... --profile gcp``, then
``aws sts get-caller-identity --profile gcp``. No ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` is in
any process's environment, so a profile without a region fails here exactly as it did for the
first user on Debian 12 ("You must specify a region").
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, gcp2aws_exe, require_executable

pytestmark = pytest.mark.e2e

ZONE = "asia-northeast1-b"
REGION = "ap-northeast-1"
ASSUMED = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"
CLI_V1 = str(Path(sys.executable).parent / "aws")
CLI_V2 = "/usr/bin/aws"  # Debian's awscli package: AWS CLI v2


@pytest.fixture
def vm() -> Iterator[MetadataEmulator]:
    with MetadataEmulator(zone=ZONE) as emu:
        yield emu


@pytest.fixture
def newcomer(tmp_path: Path, vm: MetadataEmulator, local_sts: Any) -> dict[str, str]:
    """A login shell on the VM: PATH and a fresh HOME. The metadata server's and STS's
    addresses are the only additions, because both are on loopback here."""
    home = tmp_path / "alice"
    home.mkdir(mode=0o700)
    values = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "GCE_METADATA_HOST": vm.address,
        "GCE_METADATA_IP": vm.address,
        "AWS_ENDPOINT_URL_STS": local_sts.url,
    }
    assert not [k for k in values if "REGION" in k]
    return values


def run(argv: list[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=dict(environ), capture_output=True, text=True, timeout=120, check=False
    )


def get_caller_identity(cli: str, environ: Mapping[str, str], sts_url: str) -> dict[str, Any]:
    # Debian's CLI v2 (2.9) predates AWS_ENDPOINT_URL_STS, so both get the endpoint as a flag;
    # the region still has to come from the profile.
    proc = run(
        [cli, "sts", "get-caller-identity", "--profile", "gcp", "--endpoint-url", sts_url],
        environ,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("cli", [CLI_V1, CLI_V2], ids=["awscli-v1", "awscli-v2"])
def test_quickstart_verbatim_on_a_vm_in_tokyo(
    cli: str, newcomer: dict[str, str], local_sts: Any
) -> None:
    cli = require_executable(cli)
    proc = run([gcp2aws_exe(), "init", "--role-arn", ROLE_ARN, "--profile", "gcp"], newcomer)
    assert proc.returncode == 0, proc.stderr
    assert f"region {REGION}: the nearest AWS region to the workload's zone {ZONE}" in (proc.stderr)
    assert "verified with STS GetCallerIdentity" in proc.stderr
    assert proc.stdout.splitlines()[0] == ASSUMED
    config = Path(newcomer["HOME"], ".aws", "config").read_text()
    assert f"region = {REGION}\n" in config

    identity = get_caller_identity(cli, newcomer, local_sts.url)
    assert identity["Arn"] == ASSUMED
    # init verified in the very region the CLI then used: the one it wrote.
    regions = {region for action, region in local_sts.signed_regions if action}
    assert regions == {REGION}, local_sts.signed_regions

    doctor = run([gcp2aws_exe(), "doctor", "--profile", "gcp"], newcomer)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"PASS  aws region: {REGION} (from profile 'gcp')" in doctor.stdout.splitlines()


@pytest.mark.parametrize("cli", [CLI_V1, CLI_V2], ids=["awscli-v1", "awscli-v2"])
def test_a_profile_without_a_region_is_what_the_cli_refuses_and_doctor_fails(
    cli: str, newcomer: dict[str, str], local_sts: Any
) -> None:
    """The control: the old init's profile (no region line) under the same environment."""
    cli = require_executable(cli)
    config = Path(newcomer["HOME"], ".aws", "config")
    config.parent.mkdir(mode=0o700)
    config.write_text(
        f"[profile gcp]\ncredential_process = {gcp2aws_exe()} credentials --role-arn {ROLE_ARN}\n"
    )
    proc = run(
        [cli, "sts", "get-caller-identity", "--profile", "gcp", "--endpoint-url", local_sts.url],
        newcomer,
    )
    assert proc.returncode != 0
    assert "You must specify a region" in proc.stderr

    doctor = run([gcp2aws_exe(), "doctor", "--profile", "gcp"], newcomer)
    assert doctor.returncode != 0
    failing = [line for line in doctor.stdout.splitlines() if line.startswith("FAIL")]
    assert any("aws region" in line and "You must specify a region" in line for line in failing)


def test_init_with_the_region_in_the_environment_writes_that_one(
    newcomer: dict[str, str], local_sts: Any
) -> None:
    environ = {**newcomer, "AWS_DEFAULT_REGION": "eu-west-2"}
    proc = run([gcp2aws_exe(), "init", "--role-arn", ROLE_ARN, "--profile", "gcp"], environ)
    assert proc.returncode == 0, proc.stderr
    assert "region eu-west-2: from AWS_DEFAULT_REGION" in proc.stderr
    assert "region = eu-west-2\n" in Path(newcomer["HOME"], ".aws", "config").read_text()
    # The profile now works without the variable, too.
    identity = get_caller_identity(require_executable(CLI_V1), newcomer, local_sts.url)
    assert identity["Arn"] == ASSUMED
