"""``gcp2aws emulator`` as a real process: its export lines work, and SIGTERM/SIGINT end it."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe, run_gcp2aws

# Guards against a hung child only; nothing asserts how long anything took.
STARTUP_LIMIT = 90.0


def read_exports(proc: subprocess.Popen[str], count: int) -> dict[str, str]:
    """The first ``count`` ``export NAME=value`` lines the emulator prints."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    # A reader thread rather than select(): text-mode readline buffers past the line.
    stdout = proc.stdout

    def pump() -> None:
        for _ in range(count):
            lines.put(stdout.readline())

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    while len(exports) < count:
        try:
            line = lines.get(timeout=STARTUP_LIMIT)
        except queue.Empty:
            pytest.fail(f"emulator printed only {exports} before the limit")
        if not line:
            pytest.fail(f"emulator exited ({proc.wait()}) after printing {exports}")
        assert line.startswith("export "), line
        name, _, value = line[len("export ") :].rstrip("\n").partition("=")
        exports[name] = value
    return exports


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=STARTUP_LIMIT)
    return proc.returncode, out, err


@pytest.fixture
def spawn(env: Env) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def start(spawn: list[subprocess.Popen[str]], env: Env, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [gcp2aws_exe(), "emulator", *args],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spawn.append(proc)
    return proc


def test_emulator_options_reach_the_tokens_it_issues(
    env: Env, spawn: list[subprocess.Popen[str]]
) -> None:
    proc = start(
        spawn,
        env,
        "--email",
        "ci-runner@other-proj.iam.gserviceaccount.com",
        "--project-id",
        "other-proj",
        "--instance-name",
        "build-vm-7",
        "--token-lifetime",
        "900",
    )
    exports = read_exports(proc, 2)
    assert set(exports) == {"GCE_METADATA_HOST", "GCE_METADATA_IP"}
    assert exports["GCE_METADATA_HOST"] == exports["GCE_METADATA_IP"]
    assert exports["GCE_METADATA_HOST"].startswith("127.0.0.1:")
    # The fixture's own emulator is replaced by the exported one.
    assert exports["GCE_METADATA_HOST"] != env.values["GCE_METADATA_HOST"]

    token = run_gcp2aws(["token", "--decode"], env.with_(**exports))
    assert token.returncode == 0, token.stderr
    claims = json.loads(token.stdout)["claims"]
    assert claims["email"] == "ci-runner@other-proj.iam.gserviceaccount.com"
    assert claims["google"]["compute_engine"]["instance_name"] == "build-vm-7"
    assert claims["google"]["compute_engine"]["project_id"] == "other-proj"
    assert claims["exp"] - claims["iat"] == 900

    code, out, err = stop(proc)
    assert code == 0, err
    assert out == ""  # nothing after the export lines
    assert "Traceback" not in err


def test_emulator_without_compute_engine_claims(
    env: Env, spawn: list[subprocess.Popen[str]]
) -> None:
    proc = start(
        spawn, env, "--no-compute-engine-claims", "--email", "run@p.iam.gserviceaccount.com"
    )
    exports = read_exports(proc, 2)
    token = run_gcp2aws(["token", "--decode"], env.with_(**exports))
    assert token.returncode == 0, token.stderr
    claims = json.loads(token.stdout)["claims"]
    assert claims["email"] == "run@p.iam.gserviceaccount.com"
    assert "google" not in claims
    assert stop(proc)[0] == 0


def test_emulator_with_sts_serves_credentials(env: Env, spawn: list[subprocess.Popen[str]]) -> None:
    proc = start(spawn, env, "--sts", "--instance-name", "sts-vm")
    exports = read_exports(proc, 3)
    assert set(exports) == {"GCE_METADATA_HOST", "GCE_METADATA_IP", "AWS_ENDPOINT_URL_STS"}
    assert exports["AWS_ENDPOINT_URL_STS"].startswith("http://127.0.0.1:")
    assert exports["AWS_ENDPOINT_URL_STS"] != env.values["AWS_ENDPOINT_URL_STS"]

    creds = run_gcp2aws(
        ["credentials", "--role-arn", ROLE_ARN, "--no-cache", "--debug"], env.with_(**exports)
    )
    assert creds.returncode == 0, creds.stderr
    doc = json.loads(creds.stdout)
    assert doc["Version"] == 1
    assert all(doc[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken"))
    # The session is named after the emulator's instance: the exchange went through it.
    assert "assumed-role/gcp2aws-test/sts-vm" in creds.stderr

    code, _out, err = stop(proc)
    assert code == 0, err
    assert "Traceback" not in err


def test_emulator_sigint_also_stops_it_cleanly(
    env: Env, spawn: list[subprocess.Popen[str]]
) -> None:
    proc = start(spawn, env, "--debug")
    exports = read_exports(proc, 2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=STARTUP_LIMIT)
    assert proc.returncode == 0, err
    # --debug logs where it listened (and never a token).
    assert exports["GCE_METADATA_HOST"] in err
    assert "eyJ" not in err
