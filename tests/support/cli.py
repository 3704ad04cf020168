"""Running the real ``gcp2aws`` console script as the AWS CLI would, and its failure contract."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROLE_ARN = "arn:aws:iam::123456789012:role/gcp2aws-test"
# Variables the autouse ``isolated_env`` fixture removes, so the developer's machine never leaks in.
ISOLATED_PREFIXES = ("AWS_", "GOOGLE_", "GCE_", "GCP2AWS_", "CLOUDSDK_", "XDG_")
BIN_DIR = Path(sys.executable).parent


def gcp2aws_exe() -> str:
    """The installed console script (what users put in credential_process)."""
    exe = BIN_DIR / "gcp2aws"
    return str(exe) if exe.exists() else "gcp2aws"


@dataclass
class Env:
    """Environment for a gcp2aws process pointed at the local servers."""

    values: dict[str, str]

    def with_(self, **extra: str) -> dict[str, str]:
        return {**self.values, **extra}


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


def require_executable(path: str) -> str:
    """``path`` if it is an executable here; else skip, or fail under CI, where
    scripts/test.sh installs every real client the tests run."""
    import os

    import pytest

    if os.access(path, os.X_OK):
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing: scripts/test.sh installs it on CI")
    pytest.skip(f"{path} is not installed")
