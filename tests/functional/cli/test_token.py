"""`gcp2aws token` and every token source end to end: real processes, real local servers.

Sources reach the metadata emulator, the Google OAuth/IAM Credentials emulator (google-auth is
pointed at it through GCP2AWS_OAUTH_TOKEN_URI / GCP2AWS_IAM_CREDENTIALS_ENDPOINT and the key
files' token_uri) and moto's STS. The token-file test runs boto3 itself against a file that
`token --write --watch` rotates while other threads hammer-read it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.emulator.signer import Signer
from gcp2aws.errors import ExitCode
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

TARGET = "aws-access@demo-project.iam.gserviceaccount.com"
SA = "runner@demo-project.iam.gserviceaccount.com"
USER = "alice@example.com"
ACTION = "AssumeRoleWithWebIdentity"


@pytest.fixture
def apis() -> Iterator[GoogleApisEmulator]:
    with GoogleApisEmulator() as apis:
        apis.add_service_account_identity(TARGET)
        yield apis


def google_env(env: Env, apis: GoogleApisEmulator, **extra: str) -> dict[str, str]:
    return env.with_(
        GCP2AWS_IAM_CREDENTIALS_ENDPOINT=apis.iam_endpoint,
        GCP2AWS_OAUTH_TOKEN_URI=apis.token_uri,
        **extra,
    )


def write_json(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def off_cloud(values: dict[str, str]) -> dict[str, str]:
    """No metadata server: a laptop or CI runner."""
    out = dict(values)
    out.pop("GCE_METADATA_HOST", None)
    out["GCE_METADATA_IP"] = "127.0.0.1:9"
    return out


def other_issuer_token(lifetime: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://token.actions.example",
        "aud": "sts.amazonaws.com",
        "sub": "repo:org/repo:ref:refs/heads/main",
        "iat": now,
        "exp": now + lifetime,
    }
    return Signer().sign(claims)


def credentials_ok(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["Version"] == 1
    assert doc["AccessKeyId"]
    assert "Traceback" not in proc.stderr
    assert isinstance(doc, dict)
    return doc


# -- gcp2aws token -------------------------------------------------------------------------


def test_token_prints_the_raw_token(env: Env, metadata: MetadataEmulator) -> None:
    proc = run_gcp2aws(["token", "--audience", "my-aud"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("\n")
    assert proc.stdout.count("\n") == 1
    claims = metadata.signer.verify(proc.stdout.strip())
    assert claims["aud"] == "my-aud"
    assert proc.stderr == ""


def test_token_decode(env: Env, metadata: MetadataEmulator) -> None:
    proc = run_gcp2aws(["token", "--decode", "--debug"], env.values)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["signature_verified"] is False
    assert "NOT verified" in doc["note"]
    assert doc["header"]["alg"] == "RS256"
    assert doc["claims"]["azp"] == metadata.unique_id
    assert 3500 < doc["expires_in_seconds"] <= 3600
    keys = doc["aws_condition_keys"]
    assert keys["accounts.google.com:aud"]["value"] == metadata.unique_id  # <- azp
    assert keys["accounts.google.com:oaud"]["value"] == "sts.amazonaws.com"  # <- aud
    assert keys["accounts.google.com:sub"]["value"] == metadata.unique_id
    assert "azp" in keys["accounts.google.com:aud"]["claim"]
    # --debug names the chosen source on stderr; the token itself never goes there.
    assert "token source metadata" in proc.stderr
    assert doc["claims"]["sub"] in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--watch"],
        ["--once"],
        ["--mode", "0644"],
        ["--write", "x", "--decode"],
        ["--write", "x", "--watch", "--once"],
        ["--write", "x", "--mode", "0666"],
    ],
)
def test_token_usage_errors(env: Env, args: list[str]) -> None:
    proc = run_gcp2aws(["token", *args], env.values)
    assert proc.returncode == ExitCode.USAGE
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_write_default_mode_and_shared_mode(
    env: Env, tmp_path: Path, metadata: MetadataEmulator
) -> None:
    path = tmp_path / "token"
    proc = run_gcp2aws(["token", "--write", str(path)], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert not data.endswith(b"\n")
    metadata.signer.verify(data.decode())
    assert proc.stderr.startswith(f"gcp2aws: token: wrote {path} (source metadata")
    proc = run_gcp2aws(["token", "--write", str(path), "--mode", "0644"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_once_refreshes_only_a_stale_file(
    env: Env, tmp_path: Path, metadata: MetadataEmulator
) -> None:
    path = tmp_path / "token"
    assert run_gcp2aws(["token", "--write", str(path), "--once"], env.values).returncode == 0
    first = path.read_text()
    proc = run_gcp2aws(["token", "--write", str(path), "--once"], env.values)
    assert proc.returncode == 0
    assert "is fresh" in proc.stderr
    assert path.read_text() == first
    assert metadata.identity_calls == 1
    path.write_text(other_issuer_token(lifetime=-10))  # expired
    proc = run_gcp2aws(["token", "--write", str(path), "--once"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert metadata.identity_calls == 2
    metadata.signer.verify(path.read_text())


# -- every source end to end through `gcp2aws credentials` to moto ----------------------------


def test_e2e_metadata_without_compute_engine_claims(env: Env, local_sts: Any) -> None:
    with MetadataEmulator(
        compute_engine_claims=False, email="run-svc@p.iam.gserviceaccount.com"
    ) as md:
        values = env.with_(GCE_METADATA_HOST=md.address, GCE_METADATA_IP=md.address)
        proc = run_gcp2aws(["credentials", "--role-arn", ROLE_ARN, "--debug"], values)
    credentials_ok(proc)
    assert "token source metadata" in proc.stderr
    assert "assumed-role/gcp2aws-test/run-svc" in proc.stderr  # session named after the email
    assert local_sts.calls[ACTION] == 1


def test_e2e_service_account_key(
    env: Env, apis: GoogleApisEmulator, local_sts: Any, tmp_path: Path
) -> None:
    key = write_json(tmp_path / "key.json", apis.create_service_account_key(SA))
    values = off_cloud(google_env(env, apis, GOOGLE_APPLICATION_CREDENTIALS=key))
    proc = run_gcp2aws(["credentials", "--role-arn", ROLE_ARN, "--debug"], values)
    credentials_ok(proc)
    assert "token source service-account-key" in proc.stderr
    assert f"azp={SA}" in proc.stderr
    assert local_sts.calls[ACTION] == 1


def test_e2e_impersonate_from_gcloud_user_login(
    env: Env, apis: GoogleApisEmulator, local_sts: Any, tmp_path: Path
) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    write_json(gcloud / "application_default_credentials.json", apis.add_authorized_user(USER))
    apis.grant_token_creator(f"user:{USER}", TARGET)
    values = off_cloud(google_env(env, apis, CLOUDSDK_CONFIG=str(gcloud)))
    args = [
        "credentials",
        "--role-arn",
        ROLE_ARN,
        "--impersonate-service-account",
        TARGET,
        "--debug",
    ]
    proc = run_gcp2aws(args, values)
    credentials_ok(proc)
    assert "token source impersonate" in proc.stderr
    assert f"email={TARGET}" in proc.stderr
    assert apis.id_token_calls == 1
    assert local_sts.calls[ACTION] == 1


def test_e2e_impersonate_from_the_vm(env: Env, apis: GoogleApisEmulator, local_sts: Any) -> None:
    with MetadataEmulator(access_token_issuer=apis.issue_access_token) as md:
        apis.add_service_account_identity(md.email)
        apis.grant_token_creator(md.email, TARGET)
        values = google_env(env, apis, GCE_METADATA_HOST=md.address, GCE_METADATA_IP=md.address)
        proc = run_gcp2aws(
            ["credentials", "--role-arn", ROLE_ARN, "--impersonate-service-account", TARGET], values
        )
    credentials_ok(proc)
    assert apis.id_token_calls == 1
    assert md.identity_calls == 0  # the VM's own ID token is not what we exchange


def test_e2e_adc_impersonated(
    env: Env, apis: GoogleApisEmulator, local_sts: Any, tmp_path: Path
) -> None:
    apis.grant_token_creator(USER, TARGET)
    doc = {
        "type": "impersonated_service_account",
        "service_account_impersonation_url": f"{apis.iam_endpoint}/v1/projects/-/serviceAccounts/"
        f"{TARGET}:generateAccessToken",
        "source_credentials": apis.add_authorized_user(USER),
        "delegates": [],
    }
    values = off_cloud(
        google_env(env, apis, GOOGLE_APPLICATION_CREDENTIALS=write_json(tmp_path / "i.json", doc))
    )
    proc = run_gcp2aws(["credentials", "--role-arn", ROLE_ARN, "--debug"], values)
    credentials_ok(proc)
    assert "token source adc-impersonated" in proc.stderr
    assert local_sts.calls[ACTION] == 1


def test_e2e_token_file(env: Env, local_sts: Any, tmp_path: Path) -> None:
    path = tmp_path / "oidc-token"
    path.write_text(other_issuer_token())
    proc = run_gcp2aws(
        [
            "credentials",
            "--role-arn",
            ROLE_ARN,
            "--token-file",
            str(path),
            "--role-session-name",
            "ci",
            "--debug",
        ],
        off_cloud(env.values),
    )
    credentials_ok(proc)
    assert "token source file" in proc.stderr
    assert local_sts.calls[ACTION] == 1


def test_e2e_token_command(env: Env, local_sts: Any, tmp_path: Path) -> None:
    script = tmp_path / "get-token.py"
    script.write_text(f"print({other_issuer_token()!r})\n")
    proc = run_gcp2aws(
        [
            "credentials",
            "--role-arn",
            ROLE_ARN,
            "--role-session-name",
            "ci",
            "--token-command",
            f"{sys.executable} {script}",
            "--debug",
        ],
        off_cloud(env.values),
    )
    credentials_ok(proc)
    assert "token source command" in proc.stderr
    assert local_sts.calls[ACTION] == 1


# -- error paths: one clear line, non-zero exit ----------------------------------------------


def test_error_wrong_credentials_file_type(
    env: Env, apis: GoogleApisEmulator, tmp_path: Path
) -> None:
    adc = write_json(tmp_path / "adc.json", apis.add_authorized_user(USER))
    proc = run_gcp2aws(["token", "--credentials-file", adc], off_cloud(env.values))
    assert_clean_failure(proc, ExitCode.CONFIG)
    assert "authorized_user credentials cannot mint ID tokens" in proc.stderr
    assert "--impersonate-service-account EMAIL" in proc.stderr


def test_error_missing_permission(
    env: Env, apis: GoogleApisEmulator, tmp_path: Path, local_sts: Any
) -> None:
    adc = write_json(tmp_path / "adc.json", apis.add_authorized_user(USER))
    values = off_cloud(google_env(env, apis, GOOGLE_APPLICATION_CREDENTIALS=adc))
    proc = run_gcp2aws(
        ["credentials", "--role-arn", ROLE_ARN, "--impersonate-service-account", TARGET], values
    )
    assert_clean_failure(proc, ExitCode.TOKEN_UNAVAILABLE)
    assert f"permission iam.serviceAccounts.getOpenIdToken missing on SA {TARGET}" in proc.stderr
    assert local_sts.calls[ACTION] == 0


def test_error_unreadable_token_file(env: Env, tmp_path: Path) -> None:
    proc = run_gcp2aws(["token", "--token-file", str(tmp_path / "absent")], off_cloud(env.values))
    assert_clean_failure(proc, ExitCode.TOKEN_UNAVAILABLE)
    assert "file: cannot read token file" in proc.stderr


def test_error_expired_token_in_file(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(other_issuer_token(lifetime=-600))
    proc = run_gcp2aws(
        ["credentials", "--role-arn", ROLE_ARN, "--token-file", str(path)], off_cloud(env.values)
    )
    assert_clean_failure(proc, ExitCode.TOKEN_INVALID)
    assert "the token expired" in proc.stderr


def test_error_token_command_fails(env: Env) -> None:
    cmd = f"{sys.executable} -c \"import sys; sys.exit('login required')\""
    proc = run_gcp2aws(["token", "--token-command", cmd], off_cloud(env.values))
    assert_clean_failure(proc, ExitCode.TOKEN_UNAVAILABLE)
    assert "exited with status 1: login required" in proc.stderr


def test_error_token_command_hangs(env: Env) -> None:
    cmd = f'{sys.executable} -c "import time; time.sleep(60)"'
    start = time.monotonic()
    proc = run_gcp2aws(["token", "--token-command", cmd, "--timeout", "2"], off_cloud(env.values))
    assert time.monotonic() - start < 20
    assert_clean_failure(proc, ExitCode.TOKEN_UNAVAILABLE)
    assert "was killed" in proc.stderr


def test_error_no_source_at_all(env: Env) -> None:
    proc = run_gcp2aws(["token"], off_cloud(env.values))
    assert_clean_failure(proc, ExitCode.CONFIG)
    assert "gcloud auth application-default login" in proc.stderr


# -- token --write --watch -------------------------------------------------------------------


def start_watcher(values: dict[str, str], path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [gcp2aws_exe(), "token", "--write", str(path), "--watch", *extra],
        env=values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, "the watcher never wrote the file"
        time.sleep(0.05)


@pytest.mark.slow
def test_boto3_web_identity_file_across_rotations(
    env: Env,
    metadata: MetadataEmulator,
    local_sts: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata.token_lifetime = 4  # refresh about every 2 s
    path = tmp_path / "web-identity-token"
    watcher = start_watcher(env.values, path, "--lead", "2")
    seen: set[str] = set()
    bad: list[str] = []
    reads = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                data = path.read_text()
            except FileNotFoundError:
                bad.append("missing")
                continue
            reads[0] += 1
            try:
                metadata.signer.verify(data)  # whole, signed, no stray bytes
            except ValueError:
                bad.append(data[:20])
            seen.add(data)

    try:
        wait_for(path)
        readers = [threading.Thread(target=hammer) for _ in range(3)]
        for t in readers:
            t.start()
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(path))
        monkeypatch.setenv("AWS_ROLE_ARN", ROLE_ARN)
        monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "watched")
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_sts.url)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        identities = []
        deadline = time.monotonic() + 30
        while len(seen) < 4 and time.monotonic() < deadline:
            # A new session each time, as a new process would: the SDK reads the file itself.
            sts = boto3.Session().client("sts")
            identities.append(sts.get_caller_identity()["Arn"])
            time.sleep(0.3)
        stop.set()
        for t in readers:
            t.join()
    finally:
        stop.set()
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 0, err
    assert len(seen) >= 3, "expected at least two rotations"
    assert bad == []
    assert reads[0] > 100
    assert identities
    assert all("assumed-role/gcp2aws-test/watched" in arn for arn in identities)
    assert local_sts.calls[ACTION] >= len(identities)
    refresh_lines = [line for line in err.splitlines() if line.startswith("gcp2aws: token: wrote")]
    assert len(refresh_lines) >= 3  # one line per refresh
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_watch_exits_cleanly_on_signal(env: Env, tmp_path: Path, sig: int) -> None:
    path = tmp_path / "token"
    watcher = start_watcher(env.values, path)
    try:
        wait_for(path)
        time.sleep(0.2)
        start = time.monotonic()
        watcher.send_signal(sig)
        _, err = watcher.communicate(timeout=10)
        assert time.monotonic() - start < 5
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err
    assert "Traceback" not in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_idle_watcher_uses_no_cpu(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "token"
    watcher = start_watcher(env.values, path)
    try:
        wait_for(path)
        time.sleep(0.5)
        before = cpu_seconds(watcher.pid)
        time.sleep(3)
        after = cpu_seconds(watcher.pid)
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.communicate(timeout=10)
    assert after - before <= 0.02  # it sleeps on an event; a poller would burn ticks
