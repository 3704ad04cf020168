"""The cache-hit path of ``gcp2aws credentials``: what it serves, when it steps aside, and that
it imports nothing heavy (checked with ``-X importtime``, not with a stopwatch)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import hotpath, options
from gcp2aws.cache import CacheEntry, CredentialCache, cache_key
from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe, run_gcp2aws

# None of these may load on a cache hit (the list).
FORBIDDEN = (
    "botocore",
    "boto3",
    "google",
    "requests",
    "json",
    "argparse",
    "logging",
    "re",
    "typing",
    "dataclasses",
    "enum",
)
PAYLOAD = b'{"Version": 1, "AccessKeyId": "ASIAHOT", "SecretAccessKey": "s", "SessionToken": "t"}\n'


# -- serve_from_cache in-process ----------------------------------------------------------------
@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def put(environ: dict[str, str], argv: list[str], expires_in: int) -> None:
    cli = options.parse_fast(argv)
    assert cli is not None
    raw = options.resolve_raw(cli, environ)
    cache = CredentialCache(options.cache_dir(raw, environ))
    assert cache.unsafe_reason(create=True) is None
    key = cache_key(options.key_parts(raw, environ))
    cache.write(CacheEntry(key, int(time.time()) + expires_in, PAYLOAD))


def test_hit_writes_the_payload(environ: dict[str, str], capsysbinary: Any) -> None:
    argv = ["--role-arn", ROLE_ARN]
    put(environ, argv, 3600)
    assert hotpath.serve_from_cache(argv, environ) is True
    assert capsysbinary.readouterr().out == PAYLOAD


def test_hit_ignores_switches_outside_the_key(environ: dict[str, str], capsysbinary: Any) -> None:
    put(environ, ["--role-arn", ROLE_ARN], 3600)
    assert hotpath.serve_from_cache(["--role-arn", ROLE_ARN, "--timeout", "5"], environ) is True
    assert capsysbinary.readouterr().out == PAYLOAD


@pytest.mark.parametrize(
    "argv",
    [
        ["--role-arn", ROLE_ARN, "--help"],
        ["--role-arn", ROLE_ARN, "--no-cache"],
        ["--role-arn", ROLE_ARN, "--debug"],
        ["--role-arn", ROLE_ARN, "--refresh-window", "soon"],
        ["--role-arn", ROLE_ARN, "--refresh-window", "3700"],  # the entry is inside it
        ["--role-arn", ROLE_ARN, "--audience", "other"],  # another key: a miss
        ["--timeout", "5"],  # no role: the full CLI must report it
        ["--role-arn", ROLE_ARN, "--bogus"],
    ],
)
def test_steps_aside(environ: dict[str, str], argv: list[str], capsysbinary: Any) -> None:
    put(environ, ["--role-arn", ROLE_ARN], 3600)
    assert hotpath.serve_from_cache(argv, environ) is False
    assert capsysbinary.readouterr().out == b""


def test_steps_aside_inside_the_refresh_window(environ: dict[str, str]) -> None:
    put(environ, ["--role-arn", ROLE_ARN], options.DEFAULT_REFRESH_WINDOW - 60)
    assert hotpath.serve_from_cache(["--role-arn", ROLE_ARN], environ) is False


def test_steps_aside_for_an_unsafe_directory(environ: dict[str, str]) -> None:
    put(environ, ["--role-arn", ROLE_ARN], 3600)
    os.chmod(os.path.join(environ["XDG_CACHE_HOME"], "gcp2aws"), 0o777)  # noqa: S103
    assert hotpath.serve_from_cache(["--role-arn", ROLE_ARN], environ) is False


def test_role_from_environment(environ: dict[str, str], capsysbinary: Any) -> None:
    put(environ, ["--role-arn", ROLE_ARN], 3600)
    environ["GCP2AWS_ROLE_ARN"] = ROLE_ARN
    assert hotpath.serve_from_cache([], environ) is True
    assert capsysbinary.readouterr().out == PAYLOAD


# -- imports on a real cache hit ----------------------------------------------------------------
def imported_modules(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name)
    assert names, "no -X importtime output"
    return names


def forbidden_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


def clean_env(env: Env) -> dict[str, str]:
    # A coverage run's startup hook would import half the standard library.
    return {k: v for k, v in env.values.items() if not k.startswith("COVERAGE_")}


@pytest.fixture
def warm(env: Env, metadata: Any, local_sts: Any) -> dict[str, str]:
    values = clean_env(env)
    first = run_gcp2aws(["credentials", "--role-arn", ROLE_ARN], values)
    assert first.returncode == 0, first.stderr
    metadata.reset_calls()
    local_sts.reset_calls()
    values["_EXPECTED"] = first.stdout
    return values


ENTRY = "import sys; from gcp2aws.hotpath import main; sys.exit(main())"


def test_cache_hit_imports_nothing_heavy(
    warm: dict[str, str], metadata: Any, local_sts: Any
) -> None:
    expected = warm.pop("_EXPECTED")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", ENTRY, "credentials", "--role-arn", ROLE_ARN],
        env=warm,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    modules = imported_modules(proc.stderr)
    assert "gcp2aws.hotpath" in modules
    assert forbidden_in(modules) == []
    assert sum(metadata.calls.values()) + sum(local_sts.calls.values()) == 0


def test_console_script_cache_hit_imports_nothing_heavy(warm: dict[str, str]) -> None:
    expected = warm.pop("_EXPECTED")
    proc = run_gcp2aws(
        ["credentials", "--role-arn", ROLE_ARN], {**warm, "PYTHONPROFILEIMPORTTIME": "1"}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    modules = imported_modules(proc.stderr)
    wrapper = Path(gcp2aws_exe()).read_text(errors="replace")
    if "re" in modules and "import re" in wrapper:
        pytest.skip("this pip's console-script wrapper imports re itself")
    assert forbidden_in(modules) == []


def test_a_miss_does_import_botocore(warm: dict[str, str]) -> None:
    """Control: the same measurement sees the heavy modules when the full path runs."""
    warm.pop("_EXPECTED")
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            ENTRY,
            "credentials",
            "--role-arn",
            ROLE_ARN,
            "--no-cache",
        ],
        env=warm,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = forbidden_in(imported_modules(proc.stderr))
    assert "botocore" in found
    assert "argparse" in found
