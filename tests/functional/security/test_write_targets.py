"""Writers check what they replace: `token --write`, `serve --auth-token-file/--env-file` and
`init` (through AWS_CONFIG_FILE) never turn a device, FIFO or symlink into a regular file, and
as root they do not follow a user's symlink or replace a user's file without --force."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from gcp2aws.errors import ExitCode
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, run_gcp2aws

AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="the root-only refusals need root")


def token_write(env: Env, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_gcp2aws(["token", "--write", target, *extra], env.values, timeout=30)


@AS_ROOT
def test_token_write_dev_null_as_root_leaves_dev_null_alone(env: Env) -> None:
    proc = token_write(env, os.devnull)
    assert_clean_failure(proc, ExitCode.USAGE)
    assert "/dev/null is a character device, not a regular file" in proc.stderr
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_token_write_to_a_fifo_fails_at_once_and_keeps_the_fifo(env: Env, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = token_write(env, str(fifo), "--watch")
    assert_clean_failure(proc, ExitCode.USAGE)
    assert "is a FIFO" in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_token_write_dev_stdout_is_refused_and_dash_writes_stdout(env: Env) -> None:
    proc = token_write(env, "/dev/stdout")
    assert_clean_failure(proc, ExitCode.USAGE)
    assert "/dev/stdout is a symlink to" in proc.stderr
    assert os.path.islink("/dev/stdout")
    dash = token_write(env, "-")
    assert dash.returncode == 0, dash.stderr
    assert dash.stdout.count(".") == 2  # one compact JWT
    assert not dash.stdout.endswith("\n")  # bare, as a token file holds it


def test_token_write_dash_refuses_file_only_flags(env: Env) -> None:
    assert_clean_failure(token_write(env, "-", "--watch"), ExitCode.USAGE)


def test_token_write_through_a_symlink_is_refused(env: Env, tmp_path: Path) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("keep me\n")
    (tmp_path / "token").symlink_to(victim)
    proc = token_write(env, str(tmp_path / "token"))
    assert_clean_failure(proc, ExitCode.USAGE)
    assert str(victim) in proc.stderr
    assert victim.read_text() == "keep me\n"


def test_serve_refuses_a_device_before_it_binds(env: Env, tmp_path: Path) -> None:
    proc = run_gcp2aws(
        ["serve", "--role-arn", ROLE_ARN, "--auth-token-file", os.devnull], env.values
    )
    assert_clean_failure(proc, ExitCode.USAGE)
    assert "character device" in proc.stderr
    assert "serving credentials" not in proc.stderr


def test_init_with_a_fifo_config_file_fails_at_once(env: Env, tmp_path: Path) -> None:
    fifo = tmp_path / "config"
    os.mkfifo(fifo)
    proc = run_gcp2aws(
        ["init", "--role-arn", ROLE_ARN, "--profile", "gcp", "--no-verify"],
        env.with_(AWS_CONFIG_FILE=str(fifo)),
        timeout=30,
    )
    assert_clean_failure(proc, ExitCode.CONFIG)
    assert "a FIFO, not a regular file" in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@AS_ROOT
def test_init_as_root_does_not_follow_a_users_symlink_without_force(
    env: Env, tmp_path: Path
) -> None:
    """The `sudo -E` pattern: HOME is alice's, whose ~/.aws/config links to a root file."""
    secret = tmp_path / "root-only"
    secret.write_text("# root's file\n")
    secret.chmod(0o600)
    link = tmp_path / "config"
    link.symlink_to(secret)
    argv = ["init", "--role-arn", ROLE_ARN, "--profile", "gcp", "--no-verify"]
    environ = env.with_(AWS_CONFIG_FILE=str(link))
    proc = run_gcp2aws(argv, environ)
    assert_clean_failure(proc, ExitCode.CONFIG)
    assert f"{link} is a symlink to {secret}" in proc.stderr
    assert secret.read_text() == "# root's file\n"
    forced = run_gcp2aws([*argv, "--force"], environ)
    assert forced.returncode == 0, forced.stderr
    assert f"wrote [profile gcp] to {secret} (via {link})" in forced.stderr
    assert link.is_symlink()
    assert "[profile gcp]" in secret.read_text()


def test_init_as_a_user_writes_through_a_dotfile_symlink(env: Env, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root needs --force for this (the test above)")
    real = tmp_path / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "config"
    link.symlink_to(real)
    proc = run_gcp2aws(
        ["init", "--role-arn", ROLE_ARN, "--no-verify"],
        env.with_(AWS_CONFIG_FILE=str(link)),
    )
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert "credential_process" in real.read_text()
