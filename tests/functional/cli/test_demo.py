"""`gcp2aws demo`: the whole flow against local emulators, with no cloud account."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gcp2aws.emulator import demo
from tests.support.cli import run_gcp2aws

pytestmark = pytest.mark.e2e

ASSUMED = re.compile(r"arn:aws:sts::123456789012:assumed-role/gcp2aws-demo/[\w+=,.@-]{2,64}")


def test_demo_command(isolated_env: Path) -> None:
    env = dict(os.environ)
    proc = run_gcp2aws(["demo"], env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    match = ASSUMED.search(proc.stdout)
    assert match, proc.stdout
    assert match.group(0) == "arn:aws:sts::123456789012:assumed-role/gcp2aws-demo/demo-vm"
    # The second botocore call was a cache hit: one token, one exchange.
    assert "token requests to the metadata server: 1" in proc.stdout
    assert "AssumeRoleWithWebIdentity calls: 1" in proc.stdout
    # The demo works in a throwaway directory: nothing lands in the user's cache.
    assert not (isolated_env / ".cache" / "gcp2aws").exists()


def test_demo_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someone-elses")
    before = dict(os.environ)
    lines: list[str] = []
    arn = demo.run(out=lines.append)
    assert ASSUMED.fullmatch(arn)
    assert any(line.endswith(arn) for line in lines)
    assert dict(os.environ) == before
