"""Entry points when the reader of stdout has gone away, and ``python -m gcp2aws`` vs import."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe, run_gcp2aws

LIMIT = 60.0  # a guard against a hang, not a timing assertion


def run_with_closed_stdout(
    args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run gcp2aws whose stdout is a pipe nobody reads: the read end is closed before it writes."""
    proc = subprocess.Popen(
        [gcp2aws_exe(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _out, err = proc.communicate(timeout=LIMIT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


def test_cache_hit_into_a_closed_pipe_exits_quietly(env: Env, local_sts: object) -> None:
    args = ["credentials", "--role-arn", ROLE_ARN]
    first = run_gcp2aws(args, env.values)
    assert first.returncode == 0, first.stderr
    calls = sum(local_sts.calls.values())  # type: ignore[attr-defined]

    proc = run_with_closed_stdout(args, env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    # It was a cache hit: STS was not called again.
    assert sum(local_sts.calls.values()) == calls  # type: ignore[attr-defined]
    assert json.loads(first.stdout)["SecretAccessKey"] not in proc.stderr


def test_full_cli_into_a_closed_pipe_exits_quietly(env: Env) -> None:
    proc = run_with_closed_stdout(["cache", "dir"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "internal error" not in proc.stderr


def test_python_dash_m_runs_the_cli_but_importing_it_does_not(env: Env) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "gcp2aws", "cache", "dir"],
        env=env.values,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("gcp2aws")
    imported = subprocess.run(
        [sys.executable, "-c", "import gcp2aws.__main__ as m; print(callable(m.main))"],
        env=env.values,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "True\n"  # nothing else ran
    assert imported.stderr == ""


def test_a_subcommand_builds_only_its_own_parser() -> None:
    import subprocess
    import sys

    from gcp2aws.cli.app import COMMAND_MODULES, command_module

    assert command_module("exec") == "gcp2aws.cli.exec_"
    assert command_module("credentials-file") == "gcp2aws.cli.credentials_file"
    assert command_module("tokn") is None
    assert command_module("--help") is None
    names = [m.rsplit(".", 1)[1].rstrip("_").replace("_", "-") for m in COMMAND_MODULES]
    assert all(command_module(name) for name in names)
    # `token` never imports the other commands' modules (a sidecar keeps what it imports).
    code = (
        "import sys\n"
        "from gcp2aws.cli.app import run\n"
        "run(['token', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('gcp2aws.cli.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = done.stdout.strip().splitlines()[-1]
    assert "gcp2aws.cli.token" in loaded
    assert "gcp2aws.cli.webhook" not in loaded
    assert "gcp2aws.cli.serve" not in loaded
