"""`gcp2aws credentials-file`: one profile of a shared credentials file, kept fresh, every other
byte kept, never half-written, and two watchers on one file lose nothing."""

from __future__ import annotations

import configparser
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gcp2aws.errors import ExitCode
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

OTHER = "# my static keys\n[legacy]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n"
SHORT = ["--duration-seconds", "900", "--refresh-window", "897"]  # rotates every few seconds


def credentials_file(env: Env, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_gcp2aws(
        ["credentials-file", "--role-arn", ROLE_ARN, "--file", str(path), *extra], env.values
    )


def test_once_writes_the_profile_and_keeps_every_other_byte(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(OTHER)
    path.chmod(0o640)
    proc = credentials_file(env, path, "--profile", "gcp")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    text = path.read_text()
    assert text.startswith(OTHER)  # the user's own profile, comment and all
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # mode kept
    parsed = configparser.RawConfigParser()
    parsed.read_string(text)
    assert parsed["gcp"]["aws_access_key_id"].startswith("ASIA")
    assert set(parsed["gcp"]) == {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
    secret = parsed["gcp"]["aws_secret_access_key"]
    assert secret not in proc.stderr
    # The AWS CLI reads the profile as static keys and STS knows the assumed role.
    aws = str(Path(sys.executable).with_name("aws"))
    cli = subprocess.run(
        [aws, "sts", "get-caller-identity", "--profile", "gcp", "--query", "Arn", "--output",
         "text"],
        env=env.with_(AWS_SHARED_CREDENTIALS_FILE=str(path)), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert ":assumed-role/gcp2aws-test/" in cli.stdout


def test_a_new_file_is_0600_and_running_twice_rewrites_only_the_keys(
    env: Env, tmp_path: Path
) -> None:
    path = tmp_path / "new" / "credentials"
    assert credentials_file(env, path).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert first.startswith("[default]\n")
    assert credentials_file(env, path).returncode == 0
    assert path.read_text() == first  # same cached set, same bytes


def test_a_fifo_is_refused_at_once(env: Env, tmp_path: Path) -> None:
    fifo = tmp_path / "credentials"
    os.mkfifo(fifo)
    assert_clean_failure(credentials_file(env, fifo), ExitCode.CONFIG)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_bad_profile_name_is_refused_before_any_exchange(env: Env, tmp_path: Path) -> None:
    proc = credentials_file(env, tmp_path / "c", "--profile", "a]b")
    assert_clean_failure(proc, ExitCode.USAGE)
    assert not (tmp_path / "c").exists()


def _watch(env: Env, path: Path, profile: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [gcp2aws_exe(), "credentials-file", "--role-arn", ROLE_ARN, "--file", str(path),
         "--profile", profile, "--watch", *SHORT],
        env=env.values, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    return proc.returncode, err


@pytest.mark.slow
def test_watch_rotates_while_boto3_reads_it_and_no_read_sees_half_a_file(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    path = tmp_path / "credentials"
    path.write_text(OTHER)
    watcher = _watch(env, path, "gcp")
    keys: set[str] = set()
    torn: list[str] = []
    stop = threading.Event()

    def hammer() -> None:  # reads as botocore does, as fast as it can
        while not stop.is_set():
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            parsed = configparser.RawConfigParser()
            parsed.read_string(text)
            if "gcp" in parsed:
                section = parsed["gcp"]
                if len(section) != 3 or not text.startswith(OTHER):
                    torn.append(text)
                keys.add(section["aws_access_key_id"])

    reader = threading.Thread(target=hammer)
    reader.start()
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))
    try:
        deadline = time.monotonic() + 40
        identities = []
        while len(keys) < 3 and time.monotonic() < deadline:
            if keys:  # the watcher has written the profile: read it as a tool would
                sts = boto3.Session(profile_name="gcp").client(
                    "sts", endpoint_url=env.values["AWS_ENDPOINT_URL_STS"], region_name="us-east-1"
                )
                identities.append(sts.get_caller_identity()["Arn"])
            time.sleep(0.3)
    finally:
        stop.set()
        reader.join()
        code, err = _stop(watcher)
    assert torn == []
    assert len(keys) >= 3, f"expected two rotations, saw {len(keys)} key(s): {err}"
    assert identities
    assert all(":assumed-role/gcp2aws-test/" in arn for arn in identities)
    assert code == 0, err


@pytest.mark.slow
def test_two_watchers_on_one_file_lose_nothing(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(OTHER)
    watchers = [_watch(env, path, "first"), _watch(env, path, "second")]
    try:
        time.sleep(8)  # both write, then rotate at least once each
    finally:
        results = [_stop(w) for w in watchers]
    assert [code for code, _ in results] == [0, 0], results
    parsed = configparser.RawConfigParser()
    parsed.read_string(path.read_text())
    assert {"legacy", "first", "second"} <= set(parsed.sections())
    assert path.read_text().startswith(OTHER)
