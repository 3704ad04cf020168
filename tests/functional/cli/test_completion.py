"""`gcp2aws completion SHELL`: each script sourced in the real shell, asked what TAB offers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gcp2aws.cli.completion import candidates
from tests.support.cli import BIN_DIR, Env, assert_clean_failure, require_executable, run_gcp2aws

CONFIG = "[default]\nregion = x\n[profile gcp]\n[profile prod-eu]\n[sso-session s]\n"


@pytest.fixture
def shell_env(env: Env, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "aws-config"
    config.write_text(CONFIG)
    # The scripts call `gcp2aws` by name, as an installed one would be found on PATH.
    return {**env.values, "AWS_CONFIG_FILE": str(config), "PATH": f"{BIN_DIR}:/usr/bin:/bin"}


def script(shell: str, environ: dict[str, str]) -> str:
    proc = run_gcp2aws(["completion", shell], environ)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def bash_complete(line: str, environ: dict[str, str]) -> list[str]:
    words = line.split(" ")
    probe = (
        script("bash", environ)
        + f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        + "_gcp2aws_complete; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    bash = require_executable("/usr/bin/bash")
    proc = subprocess.run([bash, "--norc", "-c", probe], env=environ, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def zsh_complete(line: str, environ: dict[str, str]) -> list[str]:
    words = line.split(" ")
    # compdef and compadd are the completion system's; stand-ins print what would be offered.
    probe = (
        'compdef() { :; }\ncompadd() { shift; print -l -- "$@"; }\n'
        + script("zsh", environ)
        + f"words=({' '.join(repr(w) for w in words)}); CURRENT={len(words)}\n"
        + "_gcp2aws_complete\n"
    )
    zsh = require_executable("/usr/bin/zsh")
    proc = subprocess.run([zsh, "-f", "-c", probe], env=environ, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def fish_complete(line: str, environ: dict[str, str]) -> list[str]:
    fish = require_executable("/usr/bin/fish")
    probe = script("fish", environ) + f"complete -C {line!r}\n"
    proc = subprocess.run([fish, "--no-config", "-c", probe], env=environ, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [w.split("\t")[0] for w in proc.stdout.splitlines() if w]


SHELLS = {"bash": bash_complete, "zsh": zsh_complete, "fish": fish_complete}
CASES = [
    ("gcp2aws se", ["serve"]),
    ("gcp2aws c", ["credentials", "credentials-file", "cache", "completion"]),
    ("gcp2aws credentials --token-s", ["--token-source"]),
    ("gcp2aws credentials --token-source me", ["metadata"]),
    ("gcp2aws env --format p", ["powershell"]),
    ("gcp2aws init --profile ", ["default", "gcp", "prod-eu"]),
    ("gcp2aws cache c", ["clear"]),
]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("shell", list(SHELLS))
def test_the_real_shell_completes(
    shell: str, line: str, expected: list[str], shell_env: dict[str, str]
) -> None:
    assert sorted(SHELLS[shell](line, shell_env)) == sorted(expected)


def test_a_free_value_completes_nothing_of_ours(shell_env: dict[str, str]) -> None:
    assert candidates(["gcp2aws", "credentials", "--role-arn", ""], 3, shell_env) == []


def test_an_unreadable_config_file_completes_no_profile(tmp_path: Path) -> None:
    fifo = tmp_path / "config"
    os.mkfifo(fifo)
    environ = {"AWS_CONFIG_FILE": str(fifo), "HOME": str(tmp_path)}
    assert candidates(["gcp2aws", "init", "--profile", ""], 3, environ) == []


def test_no_shell_is_a_usage_error(env: Env) -> None:
    assert_clean_failure(run_gcp2aws(["completion"], env.values), 2)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["gcp2aws", "webhook", ""], ["serve", "manifests"]),
        (["gcp2aws", "webhook", "serve", "--ce"], ["--cert-file"]),
        (["gcp2aws", "webhook", "manifests", "--failure-policy", ""], ["Fail", "Ignore"]),
    ],
)
def test_a_commands_own_subcommands_complete(words: list[str], expected: list[str]) -> None:
    assert candidates(words, len(words) - 1, {}) == expected
