"""``gcp2aws doctor`` end to end: the all-PASS checklist, and each onboarding mistake named in
one line (against the metadata emulator, the local STS with injected denials, and moto's IAM)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.faults import StsError
from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, Env, run_gcp2aws

DENIED = StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
ASSUMED_ARN = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"
AUD = "accounts.google.com:aud"
OAUD = "accounts.google.com:oaud"
JWT_RE = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+")


def doctor(values: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = run_gcp2aws(["doctor", "--timeout", "5", *args], values, timeout=90)
    assert "Traceback" not in proc.stderr
    assert_no_secrets(proc)
    return proc


def issued_secrets() -> list[str]:
    """Secret keys and session tokens of every role session moto (in this process) issued."""
    from moto.sts.models import sts_backends

    found = []
    for by_partition in sts_backends.values():
        for backend in by_partition.values():
            for role in backend.assumed_roles:
                found += [role.secret_access_key, role.session_token]
    return found


def assert_no_secrets(proc: subprocess.CompletedProcess[str], *extra: str) -> None:
    output = proc.stdout + proc.stderr
    assert not JWT_RE.search(output), "an ID token was printed"
    for secret in [*issued_secrets(), *extra]:
        assert secret not in output


def lines(proc: subprocess.CompletedProcess[str], status: str, name: str) -> list[str]:
    prefix = f"{status:4}  {name}:"
    return [line for line in proc.stdout.splitlines() if line.startswith(prefix)]


def one_line(proc: subprocess.CompletedProcess[str], status: str, name: str) -> str:
    found = lines(proc, status, name)
    assert len(found) == 1, proc.stdout
    return found[0]


def statuses(proc: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if line.startswith(("PASS", "WARN", "FAIL", "SKIP")):
            status, rest = line.split("  ", 1)
            result.setdefault(rest.split(":", 1)[0], []).append(status.strip())
    return result


def trust_policy(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


def policy_file(tmp_path: Path, condition: dict[str, Any]) -> str:
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(trust_policy(condition)))
    return str(path)


def deny(local_sts: Any) -> None:
    # Only the exchange is refused; GetCallerIdentity and IAM still reach moto.
    local_sts.inject(DENIED, times=20, action="AssumeRoleWithWebIdentity")


# -- all PASS ----------------------------------------------------------------------------------


def test_all_pass_with_role_arn(env: Env) -> None:
    proc = doctor(env.values, "--role-arn", ROLE_ARN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = statuses(proc)
    assert not any("FAIL" in each for each in found.values())
    for name in ("versions", "token source", "metadata server", "token", "cache", "exchange"):
        assert found[name] == ["PASS"], proc.stdout
    assert ASSUMED_ARN in one_line(proc, "PASS", "exchange")
    assert "ASIA****" in one_line(proc, "PASS", "exchange")  # the key ID, redacted
    assert issued_secrets()  # so the no-secrets check in doctor() had something to look for


def test_all_pass_with_a_profile_written_by_init(env: Env) -> None:
    init = run_gcp2aws(
        ["init", "--role-arn", ROLE_ARN, "--profile", "ci", "--no-verify"], env.values
    )
    assert init.returncode == 0, init.stderr
    proc = doctor(env.values, "--profile", "ci")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = statuses(proc)
    assert all(each == ["PASS"] for each in found.values()), proc.stdout
    assert "profile 'ci'" in one_line(proc, "PASS", "aws config")
    assert ASSUMED_ARN in one_line(proc, "PASS", "exchange")
    assert "checking the settings of profile 'ci'" in proc.stderr


def test_aws_profile_variable_selects_the_profile(env: Env) -> None:
    init = run_gcp2aws(
        ["init", "--role-arn", ROLE_ARN, "--profile", "ci", "--no-verify"], env.values
    )
    assert init.returncode == 0, init.stderr
    proc = doctor(env.with_(AWS_PROFILE="ci"))
    assert proc.returncode == 0, proc.stdout
    assert ASSUMED_ARN in one_line(proc, "PASS", "exchange")


def test_json_output(env: Env) -> None:
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--json")
    assert proc.returncode == 0, proc.stdout
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    assert {c["name"] for c in doc["checks"]} >= {"versions", "token", "exchange"}
    for check in doc["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in ("PASS", "WARN", "SKIP")


def test_json_output_on_failure(env: Env, local_sts: Any) -> None:
    deny(local_sts)
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--json", "--no-iam")
    assert proc.returncode == 9
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    failed = {c["name"] for c in doc["checks"] if c["status"] == "FAIL"}
    assert failed == {"exchange", "trust policy"}


def test_no_role_arn_and_no_profile_skips_the_exchange(env: Env) -> None:
    proc = doctor(env.values)
    assert proc.returncode == 0, proc.stdout
    assert "no role ARN" in one_line(proc, "SKIP", "sts endpoint")
    one_line(proc, "SKIP", "exchange")
    assert "Run `gcp2aws init" in proc.stdout
    assert proc.stderr == (
        "gcp2aws: no --role-arn, and no profile to take it from: "
        "profile 'default' does not run `gcp2aws credentials`\n"
    )


def test_profile_with_unparsable_flags_is_named_once(env: Env) -> None:
    config = Path(env.values["AWS_CONFIG_FILE"])
    config.parent.mkdir(mode=0o700)
    config.write_text("[profile ci]\ncredential_process = gcp2aws credentials --bogus\n")
    proc = doctor(env.values, "--profile", "ci")
    assert "gcp2aws: error:" not in proc.stderr
    assert "its gcp2aws flags do not parse (unrecognized arguments: --bogus)" in proc.stderr


# -- onboarding mistakes, one line each --------------------------------------------------------


def test_audience_in_aud_is_named(
    env: Env, local_sts: Any, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    deny(local_sts)
    path = policy_file(tmp_path, {"StringEquals": {AUD: "sts.amazonaws.com"}})
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--trust-policy", path)
    assert proc.returncode == 9
    assert "AccessDenied" in one_line(proc, "FAIL", "exchange")
    line = one_line(proc, "FAIL", "trust policy")
    assert AUD in line
    assert metadata.unique_id in line  # the token's azp, what :aud is really compared with
    assert f"under {OAUD} instead" in line


def test_email_instead_of_numeric_id_is_named(
    env: Env, local_sts: Any, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    deny(local_sts)
    cond = {"StringEquals": {AUD: metadata.email, OAUD: "sts.amazonaws.com"}}
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--trust-policy", policy_file(tmp_path, cond))
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert "numeric unique ID" in line
    assert f"use '{metadata.unique_id}' instead of the email" in line


def test_session_name_mismatch_is_named(
    env: Env, local_sts: Any, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    deny(local_sts)
    cond = {
        "StringEquals": {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"},
        "StringLike": {"sts:RoleSessionName": "ci-*"},
    }
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--trust-policy", policy_file(tmp_path, cond))
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert "sts:RoleSessionName" in line
    assert "'ci-*'" in line
    assert "demo-vm" in line  # the session name gcp2aws sends (the instance name)


def test_session_name_flag_is_what_gets_checked(
    env: Env, local_sts: Any, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    # With a matching --role-session-name the same policy allows the token: the remaining
    # denial is then not the trust policy's conditions, and the doctor says so.
    deny(local_sts)
    cond = {
        "StringEquals": {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"},
        "StringLike": {"sts:RoleSessionName": "ci-*"},
    }
    path = policy_file(tmp_path, cond)
    proc = doctor(
        env.values, "--role-arn", ROLE_ARN, "--role-session-name", "ci-7", "--trust-policy", path
    )
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert "allows this token" in line
    assert "but STS denied it" in line


def test_trust_policy_file_that_allows_passes(
    env: Env, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    cond = {"StringEquals": {AUD: metadata.unique_id, OAUD: "sts.amazonaws.com"}}
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--trust-policy", policy_file(tmp_path, cond))
    assert proc.returncode == 0, proc.stdout
    one_line(proc, "PASS", "exchange")
    assert "trust policy from" in one_line(proc, "PASS", "trust policy")


def test_unreadable_trust_policy_file(env: Env, local_sts: Any, tmp_path: Path) -> None:
    deny(local_sts)
    missing = str(tmp_path / "nope.json")
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--trust-policy", missing)
    assert proc.returncode == 9
    assert f"cannot read {missing}" in one_line(proc, "FAIL", "trust policy")


def test_denied_without_any_way_to_read_the_policy(env: Env, local_sts: Any) -> None:
    deny(local_sts)
    proc = doctor(env.values, "--role-arn", ROLE_ARN)
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert "no AWS credentials to call iam:GetRole" in line
    assert "--trust-policy FILE" in proc.stdout  # the fix line says how to get one


# -- the role's trust policy from moto's IAM ---------------------------------------------------


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[str]:
    # LocalSts keeps its moto address private, so IAM gets its own moto server.
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def iam_env(env: Env, endpoint: str) -> dict[str, str]:
    # Static test keys: what a developer with admin credentials would have while debugging.
    return env.with_(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing-secret-key",
        AWS_ENDPOINT_URL_IAM=endpoint,
    )


def create_role(endpoint: str, name: str, policy: dict[str, Any]) -> str:
    import boto3

    iam = boto3.client(
        "iam",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret-key",
    )
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))
    return str(role["Role"]["Arn"])


def test_wrong_role_arn_is_named(env: Env, local_sts: Any, moto_iam: str) -> None:
    deny(local_sts)  # what STS answers for a role that does not exist
    arn = f"arn:aws:iam::123456789012:role/no-such-role-{time.time_ns()}"
    proc = doctor(iam_env(env, moto_iam), "--role-arn", arn)
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert "iam:GetRole" in line
    assert "does not exist" in line
    assert f"the role ARN {arn} is wrong" in line
    assert "fix: Fix --role-arn" in proc.stdout
    assert_no_secrets(proc, "testing-secret-key")


def test_role_trust_policy_fetched_with_iam_get_role(
    env: Env, local_sts: Any, metadata: MetadataEmulator, moto_iam: str
) -> None:
    name = f"aud-mistake-{time.time_ns()}"
    arn = create_role(moto_iam, name, trust_policy({"StringEquals": {AUD: "sts.amazonaws.com"}}))
    deny(local_sts)
    proc = doctor(iam_env(env, moto_iam), "--role-arn", arn)
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "trust policy")
    assert f"trust policy of {name} (iam:GetRole with env credentials)" in line
    assert AUD in line
    assert metadata.unique_id in line
    assert OAUD in line
    assert_no_secrets(proc, "testing-secret-key")


def test_no_iam_flag_never_calls_iam(env: Env, local_sts: Any, moto_iam: str) -> None:
    deny(local_sts)
    # An IAM endpoint that refuses connections: had the doctor called it, the line would say so.
    values = iam_env(env, "http://127.0.0.1:9")
    proc = doctor(values, "--role-arn", ROLE_ARN, "--no-iam")
    assert proc.returncode == 9
    assert "no --trust-policy given" in one_line(proc, "FAIL", "trust policy")


# -- the token itself: expiry and clock skew ---------------------------------------------------


def token_file(metadata: MetadataEmulator, tmp_path: Path, *, shift: int) -> tuple[str, str]:
    claims = metadata.identity_claims("sts.amazonaws.com", full=True)
    claims["iat"] += shift
    claims["exp"] += shift
    raw = metadata.signer.sign(claims)
    path = tmp_path / "id-token"
    path.write_text(raw)
    return str(path), raw


def test_expired_token_is_named(env: Env, metadata: MetadataEmulator, tmp_path: Path) -> None:
    path, raw = token_file(metadata, tmp_path, shift=-7200)  # expired an hour ago
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--token-file", path)
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "token")
    assert "expired" in line
    assert "PASS  token source: file" in proc.stdout
    assert "clock" in proc.stdout  # the fix mentions checking this machine's clock
    one_line(proc, "SKIP", "exchange")
    assert_no_secrets(proc, raw)


def test_token_issued_in_the_future_fails_the_clock_check(
    env: Env, metadata: MetadataEmulator, tmp_path: Path
) -> None:
    path, raw = token_file(metadata, tmp_path, shift=600)  # iat 10 minutes ahead
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--token-file", path)
    assert proc.returncode == 9
    line = one_line(proc, "FAIL", "clock")
    assert "in the future" in line
    assert "clock is behind" in line
    assert "Synchronise the clock" in proc.stdout
    assert_no_secrets(proc, raw)


def test_fresh_token_file_passes(env: Env, metadata: MetadataEmulator, tmp_path: Path) -> None:
    path, raw = token_file(metadata, tmp_path, shift=0)
    proc = doctor(env.values, "--role-arn", ROLE_ARN, "--token-file", path)
    assert proc.returncode == 0, proc.stdout
    assert "metadata server: not used" in one_line(proc, "SKIP", "metadata server")
    one_line(proc, "PASS", "exchange")
    assert_no_secrets(proc, raw)


def test_metadata_server_down(env: Env) -> None:
    proc = doctor(env.with_(GCE_METADATA_HOST="127.0.0.1:9"), "--role-arn", ROLE_ARN)
    assert proc.returncode == 9
    one_line(proc, "FAIL", "metadata server")
    one_line(proc, "FAIL", "token")
    one_line(proc, "SKIP", "exchange")
