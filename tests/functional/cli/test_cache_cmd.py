"""``gcp2aws cache dir|list|clear`` as a real process, over a cache warmed by ``credentials``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gcp2aws.cache import CacheEntry, CredentialCache
from tests.support.cli import ROLE_ARN, Env, run_gcp2aws

OTHER_ROLE = "arn:aws:iam::123456789012:role/other-role"


def warm(env: Env, role: str = ROLE_ARN) -> dict[str, str]:
    proc = run_gcp2aws(["credentials", "--role-arn", role], env.values)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, str] = json.loads(proc.stdout)
    return doc


def cache_dir(env: Env) -> Path:
    proc = run_gcp2aws(["cache", "dir"], env.values)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.rstrip("\n"))


def test_dir_follows_xdg_and_the_flag(env: Env, tmp_path: Path) -> None:
    assert cache_dir(env) == Path(env.values["XDG_CACHE_HOME"]) / "gcp2aws"
    proc = run_gcp2aws(["cache", "dir", "--cache-dir", str(tmp_path / "elsewhere")], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{tmp_path / 'elsewhere'}\n"
    # `dir` only names the place; it does not create it.
    assert not (tmp_path / "elsewhere").exists()


def test_list_of_a_missing_directory_is_empty(env: Env, tmp_path: Path) -> None:
    proc = run_gcp2aws(["cache", "list", "--cache-dir", str(tmp_path / "none")], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_list_shows_roles_and_minutes_left_but_no_secret(env: Env) -> None:
    first = warm(env)
    second = warm(env, OTHER_ROLE)
    proc = run_gcp2aws(["cache", "list"], env.values)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    assert sorted(line.split("  ")[1] for line in lines) == sorted([ROLE_ARN, OTHER_ROLE])
    for line in lines:
        name, _role, state = line.split("  ")
        assert name.endswith(".cred")
        minutes = int(state.removeprefix("expires in ").removesuffix(" min"))
        assert 40 <= minutes <= 60  # moto issues one-hour credentials
    for doc in (first, second):
        for secret in (doc["SecretAccessKey"], doc["SessionToken"], doc["AccessKeyId"]):
            assert secret not in proc.stdout
            assert secret not in proc.stderr


def test_list_marks_corrupt_expired_and_roleless_entries(env: Env) -> None:
    warm(env)
    directory = cache_dir(env)
    (directory / "ffffffffffffffff.cred").write_bytes(b"not a cache entry\n")
    (directory / "zz-not-ours.cred").write_bytes(b"a name gcp2aws never writes\n")
    cache = CredentialCache(str(directory))
    payload = b'{"Version": 1}'
    cache.write(CacheEntry(f"opt.role_arn={OTHER_ROLE}\n", int(time.time()) - 60, payload))
    cache.write(CacheEntry("opt.audience=x\n", int(time.time()) + 3600, payload))
    (directory / "ignored.txt").write_text("not an entry")

    proc = run_gcp2aws(["cache", "list"], env.values)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4, proc.stdout
    assert "ffffffffffffffff.cred  unreadable (will be replaced)" in lines
    assert not [line for line in lines if "zz-not-ours" in line]  # only names it writes
    assert any(line.endswith(f"  {OTHER_ROLE}  expired") for line in lines), lines
    roleless = [line.split("  ")[2] for line in lines if line.split("  ")[1:2] == ["-"]]
    assert len(roleless) == 1, lines
    assert 50 <= int(roleless[0].removeprefix("expires in ").removesuffix(" min")) <= 60
    assert any(f"  {ROLE_ARN}  expires in " in line for line in lines), lines
    assert "ignored.txt" not in proc.stdout


def test_clear_removes_entries_and_reports_the_count(env: Env, local_sts: object) -> None:
    warm(env)
    warm(env, OTHER_ROLE)
    directory = cache_dir(env)
    assert len(list(directory.glob("*.cred"))) == 2

    proc = run_gcp2aws(["cache", "clear"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"gcp2aws: removed 2 cached credential set(s) from {directory}\n"
    assert list(directory.glob("*.cred")) == []
    assert run_gcp2aws(["cache", "list"], env.values).stdout == ""

    # The next credentials call has to go back to STS.
    calls_before = sum(local_sts.calls.values())  # type: ignore[attr-defined]
    warm(env)
    assert sum(local_sts.calls.values()) == calls_before + 1  # type: ignore[attr-defined]

    again = run_gcp2aws(["cache", "clear"], env.values)
    assert again.stderr == f"gcp2aws: removed 1 cached credential set(s) from {directory}\n"


def test_clear_of_a_missing_directory_removes_nothing(env: Env, tmp_path: Path) -> None:
    missing = tmp_path / "never-created"
    proc = run_gcp2aws(["cache", "clear", "--cache-dir", str(missing)], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == f"gcp2aws: removed 0 cached credential set(s) from {missing}\n"
    assert not missing.exists()
