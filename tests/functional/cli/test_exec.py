"""``gcp2aws exec``: the child's environment, exec semantics, and ``--server`` across rotations."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

PY = sys.executable
DUMP_ENV = "import json, os, sys; json.dump({'env': dict(os.environ), 'argv': sys.argv, 'pid': os.getpid()}, sys.stdout)"  # noqa: E501
CONFLICTING = {
    "AWS_PROFILE": "prod",
    "AWS_DEFAULT_PROFILE": "prod",
    "AWS_SECURITY_TOKEN": "legacy",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "old",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent",
    "AWS_ROLE_ARN": "arn:aws:iam::999999999999:role/other",
}


@pytest.fixture
def env(env: Env) -> Env:
    """The shared env, with the profile that CONFLICTING names (botocore insists it exists)."""
    config = Path(env.values["AWS_CONFIG_FILE"])
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[profile prod]\nregion = us-east-1\n")
    return env


def test_child_gets_credentials_and_no_conflicting_variables(env: Env) -> None:
    proc = subprocess.run(
        [
            gcp2aws_exe(),
            "exec",
            "--role-arn",
            ROLE_ARN,
            "--region",
            "eu-west-1",
            "--",
            PY,
            "-c",
            DUMP_ENV,
            "arg with space",
            "--role-arn",
        ],
        env=env.with_(**CONFLICTING, KEEP_ME="yes"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    child = out["env"]
    # Same inputs, same cache entry (AWS_PROFILE is part of the key: it can steer STS).
    cli = ["credentials", "--role-arn", ROLE_ARN, "--region", "eu-west-1"]
    creds = json.loads(run_gcp2aws(cli, env.with_(**CONFLICTING)).stdout)
    assert child["AWS_ACCESS_KEY_ID"] == creds["AccessKeyId"]
    assert child["AWS_SECRET_ACCESS_KEY"] == creds["SecretAccessKey"]
    assert child["AWS_SESSION_TOKEN"] == creds["SessionToken"]
    assert child["AWS_CREDENTIAL_EXPIRATION"] == creds["Expiration"]
    assert child["AWS_REGION"] == child["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert child["KEEP_ME"] == "yes"
    for name in CONFLICTING:
        assert name not in child
    # argv goes through untouched (no shell), and no secret is on the command line.
    assert out["argv"][1:] == ["arg with space", "--role-arn"]
    assert creds["SecretAccessKey"] not in " ".join(out["argv"])


def test_exec_replaces_itself_and_keeps_the_exit_code(env: Env) -> None:
    proc = subprocess.Popen(
        [gcp2aws_exe(), "exec", "--role-arn", ROLE_ARN, "--", PY, "-c", DUMP_ENV + "; sys.exit(7)"],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7, err
    # Same process: gcp2aws became the child (os.execvpe), it did not spawn one.
    assert json.loads(out)["pid"] == proc.pid


def test_signal_goes_straight_to_the_exec_child(env: Env, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import signal, sys, time, pathlib
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
        pathlib.Path({str(ready)!r}).write_text("x")
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [gcp2aws_exe(), "exec", "--role-arn", ROLE_ARN, "--", PY, "-c", script], env=env.values
    )
    _wait_for(ready, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 42


def test_missing_command_is_a_usage_error(env: Env) -> None:
    assert_clean_failure(run_gcp2aws(["exec", "--role-arn", ROLE_ARN], env.values), 2)
    assert_clean_failure(run_gcp2aws(["exec", "--role-arn", ROLE_ARN, "--"], env.values), 2)


def test_unknown_command_exits_127_like_a_shell(env: Env) -> None:
    proc = run_gcp2aws(
        ["exec", "--role-arn", ROLE_ARN, "--", "gcp2aws-no-such-command-xyz"], env.values
    )
    assert_clean_failure(proc, 127)
    assert "command not found: gcp2aws-no-such-command-xyz" in proc.stderr


def test_non_executable_file_exits_126(env: Env, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o600)
    proc = run_gcp2aws(["exec", "--role-arn", ROLE_ARN, "--", str(script)], env.values)
    assert_clean_failure(proc, 126)


def test_credential_failure_runs_nothing(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    proc = run_gcp2aws(["exec", "--role-arn", "not-an-arn", "--", "touch", str(marker)], env.values)
    assert_clean_failure(proc, 2)
    assert not marker.exists()


# -- --server ------------------------------------------------------------------------------
ROTATION_CHILD = textwrap.dedent("""
    import json, sys, time
    import boto3
    session = boto3.Session()
    sts = session.client("sts", region_name="us-east-1")
    keys, arns, calls = [], set(), 0
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        arns.add(sts.get_caller_identity()["Arn"])
        calls += 1
        key = session.get_credentials().get_frozen_credentials().access_key
        if not keys or keys[-1] != key:
            keys.append(key)
        if len(keys) >= 3:
            break
        time.sleep(0.2)
    creds = session.get_credentials()
    json.dump({"keys": keys, "arns": sorted(arns), "calls": calls, "method": creds.method},
              sys.stdout)
""")


def test_exec_server_child_keeps_working_across_rotations(env: Env, local_sts: object) -> None:
    """A long-running child calls STS GetCallerIdentity across two credential rotations."""
    proc = subprocess.run(
        [
            gcp2aws_exe(),
            "exec",
            "--server",
            "--role-arn",
            ROLE_ARN,
            "--duration-seconds",
            "900",
            "--refresh-window",
            "897",  # a rotation every ~3 s
            "--",
            PY,
            "-c",
            ROTATION_CHILD,
        ],
        env=env.with_(**CONFLICTING),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["method"] == "container-role"
    assert len(out["keys"]) >= 3, out  # two rotations seen by the child
    assert all(":assumed-role/gcp2aws-test/" in arn for arn in out["arns"])
    assert out["calls"] >= 3
    # One STS exchange per credential set, however often the child asked.
    assert local_sts.assume_calls in (len(out["keys"]), len(out["keys"]) + 1)  # type: ignore[attr-defined]


def test_exec_server_child_environment(env: Env) -> None:
    proc = subprocess.run(
        [
            gcp2aws_exe(),
            "exec",
            "--server",
            "--role-arn",
            ROLE_ARN,
            "--region",
            "eu-west-1",
            "--",
            PY,
            "-c",
            DUMP_ENV,
        ],
        env=env.with_(**CONFLICTING),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    child = out["env"]
    assert child["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert len(child["AWS_CONTAINER_AUTHORIZATION_TOKEN"]) == 64
    assert child["AWS_REGION"] == "eu-west-1"
    served = {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
    gone = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", *CONFLICTING}
    for name in gone - served:
        assert name not in child
    assert (
        child["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        != CONFLICTING["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert proc.poll() is None, "gcp2aws exited early"
        assert time.monotonic() < deadline, "child never became ready"
        time.sleep(0.05)


def test_exec_server_forwards_signals_and_returns_child_code(env: Env, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import os, signal, sys, time, pathlib
        got = []
        signal.signal(signal.SIGHUP, lambda *a: got.append("HUP"))
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(40 + len(got)))
        pathlib.Path({str(ready)!r}).write_text(str(os.getpid()))
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [gcp2aws_exe(), "exec", "--server", "--role-arn", ROLE_ARN, "--", PY, "-c", script],
        env=env.values,
    )
    _wait_for(ready, proc)
    assert int(ready.read_text()) != proc.pid  # a child, not an exec
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 41  # SIGHUP, then SIGTERM, both forwarded


def test_exec_server_child_killed_by_signal_gives_128_plus_n(env: Env) -> None:
    proc = run_gcp2aws(
        [
            "exec",
            "--server",
            "--role-arn",
            ROLE_ARN,
            "--",
            PY,
            "-c",
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        ],
        env.values,
    )
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr


def test_exec_server_unknown_command_exits_127(env: Env) -> None:
    proc = run_gcp2aws(
        ["exec", "--server", "--role-arn", ROLE_ARN, "--", "gcp2aws-no-such-command-xyz"],
        env.values,
    )
    assert_clean_failure(proc, 127)


@pytest.mark.parametrize("mode", [[], ["--server"]])
def test_exit_code_passthrough(env: Env, mode: list[str]) -> None:
    proc = run_gcp2aws(
        ["exec", *mode, "--role-arn", ROLE_ARN, "--", PY, "-c", "raise SystemExit(3)"],
        env.values,
    )
    assert proc.returncode == 3, proc.stderr


def test_no_secret_in_any_process_command_line(env: Env, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = f"import pathlib, time; pathlib.Path({str(ready)!r}).write_text('x'); time.sleep(30)"
    proc = subprocess.Popen(
        [gcp2aws_exe(), "exec", "--server", "--role-arn", ROLE_ARN, "--", PY, "-c", script],
        env=env.values,
    )
    try:
        _wait_for(ready, proc)
        creds = json.loads(run_gcp2aws(["credentials", "--role-arn", ROLE_ARN], env.values).stdout)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert creds["SecretAccessKey"].encode() not in cmdline
            assert creds["SessionToken"].encode() not in cmdline
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# -- under a controlling terminal: forward by the signal's origin -------------------------------
COUNT_SIGINT = textwrap.dedent("""
    import os, pathlib, signal, sys, time
    got = []
    signal.signal(signal.SIGINT, lambda *a: got.append(1))
    pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
    while not got:
        time.sleep(0.01)
    time.sleep(0.5)  # a second, duplicated delivery would land here
    sys.exit(40 + len(got))
""")


def _in_a_terminal(env: Env, tmp_path: Path) -> tuple[int, int, Path]:
    """gcp2aws exec --server as the foreground process of a new pseudo-terminal."""
    import pty

    ready = tmp_path / "ready"
    argv = [gcp2aws_exe(), "exec", "--server", "--role-arn", ROLE_ARN, "--",
            PY, "-c", COUNT_SIGINT, str(ready)]  # fmt: skip
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the forked child execs at once
        os.execve(argv[0], argv, env.values)  # noqa: S606 - argv as is, no shell
    os.set_blocking(master, False)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline, "the child did not start"
        time.sleep(0.05)
    return pid, master, ready


def _exit_status(pid: int, master: int) -> int:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            os.read(master, 4096)  # keep the terminal drained
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            os.close(master)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("gcp2aws exec --server did not exit")


def test_sigint_sent_with_kill_under_a_terminal_is_forwarded_once(env: Env, tmp_path: Path) -> None:
    pid, master, _ready = _in_a_terminal(env, tmp_path)
    os.kill(pid, signal.SIGINT)  # to gcp2aws alone: only forwarding reaches the child
    assert _exit_status(pid, master) == 41


def test_ctrl_c_at_the_terminal_reaches_the_child_once(env: Env, tmp_path: Path) -> None:
    pid, master, _ready = _in_a_terminal(env, tmp_path)
    os.write(master, b"\x03")  # the terminal signals the whole foreground group
    assert _exit_status(pid, master) == 41  # not 42: gcp2aws did not forward it again
