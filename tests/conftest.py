"""Shared fixtures: an isolated environment, the metadata emulator, a local STS, and a CLI runner.

Every test runs with HOME, XDG dirs and all AWS_* / GOOGLE_* / GCE_* / GCP2AWS_* / CLOUDSDK_*
variables isolated, so nothing on the developer's machine (or a real cloud) leaks in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator

ROLE_ARN = "arn:aws:iam::123456789012:role/gcp2aws-test"
ISOLATED_PREFIXES = ("AWS_", "GOOGLE_", "GCE_", "GCP2AWS_", "CLOUDSDK_", "XDG_")
BIN_DIR = Path(sys.executable).parent


def gcp2aws_exe() -> str:
    """The installed console script (what users put in credential_process)."""
    exe = BIN_DIR / "gcp2aws"
    return str(exe) if exe.exists() else "gcp2aws"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / ".config" / "gcloud"))
    # Detection must never reach 169.254.169.254 from a test: point it at a closed port.
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    return home


@pytest.fixture
def metadata() -> Iterator[MetadataEmulator]:
    with MetadataEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def _local_sts_session() -> Iterator[object]:
    from gcp2aws.emulator.local_sts import LocalSts

    with LocalSts() as sts:
        yield sts


@pytest.fixture
def local_sts(_local_sts_session: object) -> object:
    sts = _local_sts_session
    sts.reset_calls()  # type: ignore[attr-defined]
    sts.faults.clear()  # type: ignore[attr-defined]
    return sts


@dataclass
class Env:
    """Environment for a gcp2aws process pointed at the local servers."""

    values: dict[str, str]

    def with_(self, **extra: str) -> dict[str, str]:
        return {**self.values, **extra}


@pytest.fixture
def env(isolated_env: Path, metadata: MetadataEmulator, local_sts: object) -> Env:
    values = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    values.update(
        {
            "HOME": str(isolated_env),
            "AWS_CONFIG_FILE": str(isolated_env / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(isolated_env / ".aws" / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "XDG_CACHE_HOME": str(isolated_env / ".cache"),
            "GCE_METADATA_HOST": metadata.address,
            "GCE_METADATA_IP": metadata.address,
            "AWS_ENDPOINT_URL_STS": local_sts.url,  # type: ignore[attr-defined]
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return Env(values)


def run_gcp2aws(
    args: list[str], env: Mapping[str, str], *, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real console script as a separate process, as the AWS CLI would."""
    return subprocess.run(
        [gcp2aws_exe(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int) -> None:
    """The failure contract: exit code, nothing on stdout, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gcp2aws: error:")]
    assert len(lines) == 1, proc.stderr
