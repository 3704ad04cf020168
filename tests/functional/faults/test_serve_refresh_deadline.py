"""``serve``'s and ``exec --server``'s refreshes meet ``--timeout`` even against an STS that
drips its answer one byte at a time (each byte restarts botocore's socket timeout): they run
in the main thread (``exec`` between the signals it forwards), where the deadline's SIGALRM
interrupts the read. The endpoint keeps serving its valid set meanwhile (recovery after a
failed refresh is the outage row of test_concurrency_faults)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from gcp2aws.emulator.faults import Drip
from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe

pytestmark = pytest.mark.slow

DURATION = 900  # STS's minimum; with a 895 s window the first refresh is due ~5 s after start
WINDOW = 895
TIMEOUT = 3


def test_a_dripping_sts_cannot_hold_a_refresh_past_the_timeout(env: Env, local_sts: Any) -> None:
    proc = subprocess.Popen(
        [
            gcp2aws_exe(),
            "serve",
            "--role-arn",
            ROLE_ARN,
            "--duration-seconds",
            str(DURATION),
            "--refresh-window",
            str(WINDOW),
            "--timeout",
            str(TIMEOUT),
            "--no-access-log",
            "--format",
            "dotenv",
        ],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # serving
        # The next AssumeRoleWithWebIdentity drips its status line and headers for 400 s.
        local_sts.inject(Drip(b"x" * 2000, 0.2, headers=True), action="AssumeRoleWithWebIdentity")
        deadline = time.monotonic() + 40
        while local_sts.calls["AssumeRoleWithWebIdentity"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(TIMEOUT + 2)  # the dripping refresh must have been cut off by now
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    failed = [line for line in err.splitlines() if "refresh failed (" in line]
    assert failed, err
    assert f"no complete answer within {TIMEOUT}s" in failed[0], failed[0]
    assert "serving cached credentials" in failed[0]  # the endpoint kept its valid set
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_exec_server_refreshes_meet_the_timeout_too(env: Env, local_sts: Any) -> None:
    child = "import time; time.sleep(12)"
    proc = subprocess.Popen(
        [
            gcp2aws_exe(),
            "exec",
            "--server",
            "--role-arn",
            ROLE_ARN,
            "--duration-seconds",
            str(DURATION),
            "--refresh-window",
            str(WINDOW),
            "--timeout",
            str(TIMEOUT),
            "--",
            sys.executable,
            "-c",
            child,
        ],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while local_sts.calls["AssumeRoleWithWebIdentity"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    local_sts.inject(Drip(b"x" * 2000, 0.2, headers=True), action="AssumeRoleWithWebIdentity")
    _, err = proc.communicate(timeout=60)
    failed = [line for line in err.splitlines() if "refresh failed (" in line]
    assert failed, err
    assert f"no complete answer within {TIMEOUT}s" in failed[0], failed[0]
    assert proc.returncode == 0, err  # the child ran to its end, with the endpoint up
