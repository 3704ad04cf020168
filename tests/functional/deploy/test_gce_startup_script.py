"""deploy/gce/startup-script.sh, run as root would run it at boot, against the metadata emulator.

It installs a wheel built from this checkout with Debian's pipx into a temp root (the prefixes
are overridable for this), writes the profile for a real, freshly created user through
``runuser``, and that user's AWS CLI v2 then prints the assumed-role ARN with nothing exported.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, require_executable
from tests.support.repo import DEPLOY_GCE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = DEPLOY_GCE / "startup-script.sh"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Vm:
    root: Path
    user: str
    home: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "usr" / "local" / "bin"

    @property
    def skel(self) -> Path:
        return self.root / "etc" / "skel"

    def boot_env(self, metadata: MetadataEmulator, wheel: Path, sts_url: str) -> dict[str, str]:
        return {
            "PATH": SYSTEM_PATH,
            "HOME": str(self.root / "root-home"),
            "GCE_METADATA_HOST": metadata.address,
            "GCE_METADATA_IP": metadata.address,
            "AWS_ENDPOINT_URL_STS": sts_url,
            "GCP2AWS_PIPX": require_executable("/usr/bin/pipx"),
            "GCP2AWS_PIPX_HOME": str(self.root / "opt" / "pipx"),
            "GCP2AWS_BIN_DIR": str(self.bin_dir),
            "GCP2AWS_SKEL": str(self.skel),
            "GCP2AWS_PACKAGE": str(wheel),
        }


@pytest.fixture
def vm() -> Iterator[Vm]:
    """A temp root other users can read, and a real user whose home is inside it."""
    if os.geteuid() != 0:
        pytest.skip("the startup script runs as root; so does this test")
    for tool in ("useradd", "userdel", "runuser", "curl"):
        if shutil.which(tool, path=SYSTEM_PATH) is None:
            pytest.skip(f"{tool} is not installed")
    root = Path(tempfile.mkdtemp(prefix="gcp2aws-vm-"))
    root.chmod(0o755)
    user = "g2a" + secrets.token_hex(4)
    home = root / "home" / user
    home.mkdir(parents=True)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", user],
        check=True,
        env={"PATH": SYSTEM_PATH},
    )
    shutil.chown(home, user, user)
    try:
        yield Vm(root, user, home)
    finally:
        subprocess.run(["userdel", user], check=False, env={"PATH": SYSTEM_PATH})
        shutil.rmtree(root, ignore_errors=True)


def boot(environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_boot_installs_once_and_every_listed_user_gets_a_working_profile(
    vm: Vm, gcp2aws_wheel: Path, local_sts: Any
) -> None:
    attributes = {"gcp2aws-role-arn": ROLE_ARN, "gcp2aws-users": f"{vm.user},nosuchuser"}
    with MetadataEmulator(zone="asia-northeast1-b", attributes=attributes) as metadata:
        environ = vm.boot_env(metadata, gcp2aws_wheel, local_sts.url)
        first = boot(environ)
        assert first.returncode == 0, first.stderr
        assert first.stdout == ""
        config = vm.home / ".aws" / "config"
        written = config.read_bytes()
        assert config.stat().st_uid == vm.home.stat().st_uid  # written as the user, not root
        text = written.decode()
        assert "[profile gcp]\n" in text
        assert "region = ap-northeast-1\n" in text
        assert f"credential_process = {vm.bin_dir / 'gcp2aws'} credentials" in text
        assert "user nosuchuser does not exist; skipped" in first.stderr
        assert "[profile gcp]\n" in (vm.skel / ".aws" / "config").read_text()

        # The user, logged in with nothing exported, runs the AWS CLI.
        aws = require_executable("/usr/bin/aws")
        login = [
            f"PATH={vm.bin_dir}:/usr/bin:/bin",
            f"HOME={vm.home}",
            f"GCE_METADATA_HOST={metadata.address}",
            f"GCE_METADATA_IP={metadata.address}",
            f"AWS_ENDPOINT_URL_STS={local_sts.url}",  # this test's stand-in for the network
        ]
        cli = subprocess.run(
            ["runuser", "-u", vm.user, "--", "env", "-i", *login, aws, "sts",
             "get-caller-identity", "--profile", "gcp", "--endpoint-url", local_sts.url,
             "--query", "Arn", "--output", "text"],
            capture_output=True, text=True, timeout=120, env={"PATH": SYSTEM_PATH}, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.startswith("arn:aws:sts::"), cli.stdout
        assert ":assumed-role/" in cli.stdout

        second = boot(environ)
    assert second.returncode == 0, second.stderr
    assert "not reinstalling" in second.stderr
    assert config.read_bytes() == written


def test_a_template_without_the_role_attribute_fails_with_one_line(
    vm: Vm, gcp2aws_wheel: Path, local_sts: Any
) -> None:
    with MetadataEmulator(zone="us-central1-a") as metadata:
        proc = boot(vm.boot_env(metadata, gcp2aws_wheel, local_sts.url))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "gcp2aws-startup: instance attribute gcp2aws-role-arn is not set; "
        "add it to the instance template's metadata"
    ]
    assert not (vm.bin_dir / "gcp2aws").exists()
