"""Many AWS CLI commands starting at once on a cold cache make a single STS call."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe

pytestmark = pytest.mark.e2e

PROCESSES = 32


def test_32_cold_invocations_make_one_sts_call(env: Env, metadata: Any, local_sts: Any) -> None:
    procs = [
        subprocess.Popen(
            [gcp2aws_exe(), "credentials", "--role-arn", ROLE_ARN],
            env=env.values,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(set(outputs)) == 1  # every caller got the same credentials
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert metadata.identity_calls == 1
