"""Credentials never ride on a command line, and --token-command never goes through a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.idtoken.command import CommandSource
from gcp2aws.retry import Deadline
from tests.support.cli import ROLE_ARN, Env, run_gcp2aws

# Runs as the exec'd child: snapshots every process's command line while it is alive (its own,
# its parent's: gcp2aws itself with --server), and what it was handed in its environment.
CHILD = r"""
import json, os, sys, urllib.request
out = {"pid": os.getpid(), "ppid": os.getppid(), "env": {}, "cmdlines": {}}
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                out["cmdlines"][name] = fh.read().decode("utf-8", "replace")
        except OSError:
            pass
for name, value in os.environ.items():
    if name.startswith("AWS_"):
        out["env"][name] = value
uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
if uri:
    req = urllib.request.Request(
        uri, headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
    )
    out["served"] = json.load(urllib.request.urlopen(req, timeout=10))
with open(sys.argv[1], "w") as fh:
    json.dump(out, fh)
"""


@pytest.mark.parametrize("mode", [[], ["--server"]], ids=["exec", "exec-server"])
def test_exec_keeps_credentials_off_every_command_line(
    env: Env, tmp_path: Path, mode: list[str]
) -> None:
    report = tmp_path / "child.json"
    proc = run_gcp2aws(
        ["exec", *mode, "--role-arn", ROLE_ARN, "--", sys.executable, "-c", CHILD, str(report)],
        env.values,
    )
    assert proc.returncode == 0, proc.stderr
    seen: dict[str, Any] = json.loads(report.read_text())
    if mode:
        served = seen["served"]
        secrets = [
            served["SecretAccessKey"],
            served["Token"],
            seen["env"]["AWS_CONTAINER_AUTHORIZATION_TOKEN"],
        ]
        assert "AWS_SECRET_ACCESS_KEY" not in seen["env"]
        # gcp2aws stays as the parent, serving; its own command line is in the snapshot.
        assert "exec" in seen["cmdlines"][str(seen["ppid"])]
    else:
        secrets = [seen["env"]["AWS_SECRET_ACCESS_KEY"], seen["env"]["AWS_SESSION_TOKEN"]]
        assert seen["env"]["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        # gcp2aws replaced itself: the child runs under gcp2aws's own process id.
        assert sys.executable in seen["cmdlines"][str(seen["pid"])]
    assert all(len(s) >= 16 for s in secrets)
    for pid, cmdline in seen["cmdlines"].items():
        for secret in secrets:
            assert secret not in cmdline, f"a secret is on the command line of process {pid}"
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr


# -- --token-command: an argument list, never a shell ------------------------------------------
# Records its argv and what its parent process is; prints a (junk) token to stdout.
RECORDER = r"""
import json, os, sys
with open(os.environ["RECORD_TO"], "w") as fh:
    json.dump({"argv": sys.argv[1:], "parent": os.readlink(f"/proc/{os.getppid()}/exe")}, fh)
print("e30.e30.sig")
"""
METACHARACTERS = ["a; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "x | tee PWNED", "> PWNED"]


def test_token_command_arguments_reach_the_program_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "record.json"
    monkeypatch.setenv("RECORD_TO", str(record))
    monkeypatch.chdir(tmp_path)
    spawned: list[tuple[Any, dict[str, Any]]] = []
    real_popen = subprocess.Popen

    def popen(args: Any, **kwargs: Any) -> Any:
        spawned.append((args, kwargs))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    quoted = " ".join(f"'{word}'" for word in METACHARACTERS)
    source = CommandSource(f"{sys.executable} {script} {quoted} unquoted;semicolon $HOME")
    token = source.fetch("aud", Deadline(10))
    assert token.raw == "e30.e30.sig"
    doc = json.loads(record.read_text())
    assert doc["argv"] == [*METACHARACTERS, "unquoted;semicolon", "$HOME"]
    assert not (tmp_path / "PWNED").exists()
    # The program's parent is this Python process, not /bin/sh.
    assert os.path.realpath(doc["parent"]) == os.path.realpath(sys.executable)
    ((args, kwargs),) = spawned
    assert isinstance(args, list)
    assert args[0] == sys.executable
    assert not kwargs.get("shell", False)


def test_cli_token_command_is_not_run_through_a_shell(env: Env, tmp_path: Path) -> None:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record = tmp_path / "record.json"
    command = f"{sys.executable} {script} 'a; touch {tmp_path}/PWNED' '$(id)' '|' '>x'"
    proc = run_gcp2aws(
        ["token", "--token-command", command, "--decode"],
        env.with_(RECORD_TO=str(record)),
    )
    # The recorder's junk token is refused, but only after it ran with literal arguments.
    assert proc.returncode != 0
    doc = json.loads(record.read_text())
    assert doc["argv"] == [f"a; touch {tmp_path}/PWNED", "$(id)", "|", ">x"]
    assert "python" in os.path.basename(doc["parent"])
    assert not (tmp_path / "PWNED").exists()
