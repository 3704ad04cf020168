"""Role chaining across accounts: the web-identity exchange reaches a hub role, then each
``--chain-role-arn`` is assumed (sts:AssumeRole, against moto) with the previous hop's
credentials. One lock per chain, the hub cached on its own, every mode, the real AWS CLI and
boto3 reading the result."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import api
from gcp2aws.emulator.faults import StsError
from tests.support.cli import Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

pytestmark = pytest.mark.e2e

HUB = "arn:aws:iam::111111111111:role/hub"
SPOKE = "arn:aws:iam::222222222222:role/spoke"
LEAF = "arn:aws:iam::333333333333:role/leaf"
OTHER = "arn:aws:iam::444444444444:role/other"
CHAIN = ["--role-arn", HUB, "--chain-role-arn", SPOKE, "--chain-role-arn", LEAF]


def credentials(env: Env, *args: str, **extra: str) -> tuple[dict[str, Any], str]:
    done = run_gcp2aws(["credentials", *args], env.with_(**extra))
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document, done.stderr


def identity(env: dict[str, str]) -> str:
    """The ARN the real AWS CLI's GetCallerIdentity sees, signed with env's credentials."""
    done = subprocess.run(
        [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    arn: str = json.loads(done.stdout)["Arn"]
    return arn


def test_two_hops_end_in_the_last_account(env: Env, local_sts: Any) -> None:
    document, err = credentials(env, *CHAIN)
    assert document["AccountId"] == "333333333333"
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert local_sts.calls["AssumeRole"] == 2
    assert err == ""
    # The AWS CLI signs with the chain's credentials: moto knows the session as the leaf's.
    profile = env.values["AWS_CONFIG_FILE"]
    Path(profile).parent.mkdir(parents=True, exist_ok=True)
    line = " ".join([gcp2aws_exe(), "credentials", *CHAIN])
    Path(profile).write_text(f"[profile chain]\ncredential_process = {line}\nregion = us-east-1\n")
    arn = identity(env.with_(AWS_PROFILE="chain"))
    assert arn.startswith("arn:aws:sts::333333333333:assumed-role/leaf/")


def test_hops_take_the_first_hops_session_name_unless_told(env: Env, local_sts: Any) -> None:
    credentials(env, *CHAIN, "--role-session-name", "web-hop")
    arn = identity({**env.with_(**exported(env, *CHAIN, "--role-session-name", "web-hop"))})
    assert arn.endswith("/leaf/web-hop")
    named = exported(env, *CHAIN, "--chain-role-session-name", "spoke-side")
    assert identity(env.with_(**named)).endswith("/leaf/spoke-side")


def exported(env: Env, *args: str) -> dict[str, str]:
    done = run_gcp2aws(["env", "--format", "dotenv", *args], env.values)
    assert done.returncode == 0, done.stderr
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {k: v.strip("'\"") for k, v in pairs}


def test_env_exports_the_final_account(env: Env, local_sts: Any) -> None:
    values = exported(env, *CHAIN)
    assert values["AWS_ACCOUNT_ID"] == "333333333333"
    # boto3 with nothing but those variables.
    code = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env.with_(**values),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "333333333333", done.stderr


def test_the_variable_form_is_comma_separated(env: Env, local_sts: Any) -> None:
    document, _ = credentials(env, "--role-arn", HUB, GCP2AWS_CHAIN_ROLE_ARNS=f"{SPOKE}, {LEAF}")
    assert document["AccountId"] == "333333333333"
    assert local_sts.calls["AssumeRole"] == 2


def test_chains_sharing_a_hub_share_its_exchange(env: Env, local_sts: Any) -> None:
    credentials(env, "--role-arn", HUB, "--chain-role-arn", SPOKE)
    credentials(env, "--role-arn", HUB, "--chain-role-arn", OTHER)
    credentials(env, "--role-arn", HUB)  # the hub alone: a hit on its own entry
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert local_sts.calls["AssumeRole"] == 2


def test_a_chain_hit_costs_no_call(env: Env, local_sts: Any) -> None:
    first, _ = credentials(env, *CHAIN)
    again, _ = credentials(env, *CHAIN)
    assert first == again
    assert local_sts.calls["AssumeRole"] == 2


def test_a_long_duration_is_capped_for_the_hops_with_a_warning(env: Env, local_sts: Any) -> None:
    document, err = credentials(env, *CHAIN, "--duration-seconds", "7200")
    assert err.count("\n") == 1
    assert "chained hops last at most 3600s" in err
    from datetime import datetime, timezone

    left = datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00")) - datetime.now(
        timezone.utc
    )
    assert 3000 < left.total_seconds() <= 3600


def test_an_external_id_reaches_sts(env: Env, local_sts: Any) -> None:
    credentials(env, *CHAIN, "--chain-external-id", "partner-42")
    assert local_sts.calls["AssumeRole"] == 2
    assert_clean_failure(
        run_gcp2aws(["credentials", *CHAIN, "--chain-external-id", "x"], env.values), 2
    )


def test_a_refused_hop_names_itself_and_the_principal_it_presented(
    env: Env, local_sts: Any
) -> None:
    local_sts.inject(
        StsError("AccessDenied", "User is not authorized to perform: sts:AssumeRole", 403),
        action="AssumeRole",
    )
    done = run_gcp2aws(["credentials", *CHAIN], env.values)
    assert_clean_failure(done, 6)
    assert "Hop 2 (arn:aws:iam::222222222222:role/spoke)" in done.stderr
    assert "arn:aws:sts::111111111111:assumed-role/hub/" in done.stderr
    assert "gcp2aws policy --for-chain" in done.stderr


def test_a_bad_hop_arn_is_a_usage_error(env: Env) -> None:
    done = run_gcp2aws(["credentials", "--role-arn", HUB, "--chain-role-arn", "nope"], env.values)
    assert_clean_failure(done, 2)
    assert "invalid role ARN 'nope'" in done.stderr


def test_32_cold_runs_make_one_call_per_hop(env: Env, metadata: Any, local_sts: Any) -> None:
    procs = [
        subprocess.Popen(
            [gcp2aws_exe(), "credentials", *CHAIN],
            env=env.values,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(32)
    ]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(set(outputs)) == 1
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert local_sts.calls["AssumeRole"] == 2
    assert metadata.identity_calls == 1


def test_exec_and_the_python_api_chain_too(env: Env, local_sts: Any) -> None:
    code = "import os; print(os.environ['AWS_ACCOUNT_ID'])"
    done = run_gcp2aws(["exec", *CHAIN, "--", sys.executable, "-c", code], env.values)
    assert done.stdout.strip() == "333333333333", done.stderr
    creds = api.credentials(HUB, chain_role_arns=[SPOKE, LEAF], environ=env.values)
    assert creds.account_id == "333333333333"
    assert local_sts.calls["AssumeRole"] == 2  # the API shares the CLI's cache entry


def test_serve_hands_out_the_chains_credentials(env: Env, local_sts: Any, tmp_path: Path) -> None:
    env_file = tmp_path / "client.env"
    proc = subprocess.Popen(
        [gcp2aws_exe(), "serve", *CHAIN, "--env-file", str(env_file)],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None
            time.sleep(0.05)
        pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        client = {k: v.strip("'\"") for k, v in pairs}
        code = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
        app_env = {k: v for k, v in env.values.items() if not k.startswith("GCP2AWS_")} | client
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "assumed-role/leaf/" in done.stdout, done.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_init_writes_the_chain_into_the_profile_and_the_aws_cli_follows_it(
    env: Env, local_sts: Any
) -> None:
    import shlex

    from botocore.configloader import raw_config_parse

    done = run_gcp2aws(
        ["init", "--profile", "spoke", *CHAIN, "--chain-external-id", "partner-42", "--yes"],
        env.values,
    )
    assert done.returncode == 0, done.stderr
    view = raw_config_parse(env.values["AWS_CONFIG_FILE"])["profile spoke"]
    argv = shlex.split(view["credential_process"])
    hops = [argv[i + 1] for i, word in enumerate(argv) if word == "--chain-role-arn"]
    assert hops == [SPOKE, LEAF]
    assert argv[argv.index("--chain-external-id") + 1] == "partner-42"
    arn = identity(env.with_(AWS_PROFILE="spoke"))
    assert arn.startswith("arn:aws:sts::333333333333:assumed-role/leaf/")


def test_policy_for_chain_trusts_the_previous_hop(env: Env) -> None:
    args = ["policy", "--for-chain", "--role-arn", HUB, "--chain-role-arn", SPOKE]
    done = run_gcp2aws([*args, "--chain-external-id", "partner-42"], env.values)
    assert done.returncode == 0, done.stderr
    (statement,) = json.loads(done.stdout)["Statement"]
    assert statement["Principal"] == {"AWS": HUB}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "partner-42"}}
    two = run_gcp2aws([*args, "--chain-role-arn", LEAF], env.values)
    documents = json.loads(two.stdout)
    assert [d["RoleArn"] for d in documents] == [SPOKE, LEAF]
    leaf_principal = documents[1]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert leaf_principal == {"AWS": SPOKE}
    assert "Condition" not in documents[1]["AssumeRolePolicyDocument"]["Statement"][0]


def test_policy_for_chain_renders_for_each_account(env: Env, tmp_path: Path) -> None:
    import yaml
    from cfnlint.api import lint

    args = [
        "policy",
        "--for-chain",
        "--role-arn",
        HUB,
        "--chain-role-arn",
        SPOKE,
        "--chain-role-arn",
        LEAF,
    ]
    cfn = run_gcp2aws([*args, "--format", "cloudformation"], env.values)
    assert cfn.returncode == 0, cfn.stderr
    templates = [t for t in yaml.safe_load_all(cfn.stdout) if t]
    assert len(templates) == 2
    for text in cfn.stdout.split("---\n")[1:]:
        assert [str(m) for m in lint(text)] == []
    terraform = run_gcp2aws([*args, "--format", "terraform"], env.values)
    assert 'resource "aws_iam_role" "spoke"' in terraform.stdout
    assert 'resource "aws_iam_role" "leaf"' in terraform.stdout
    missing = run_gcp2aws(["policy", "--for-chain", "--role-arn", HUB], env.values)
    assert_clean_failure(missing, 2)


def test_doctor_explains_a_refused_hop(env: Env, local_sts: Any) -> None:
    local_sts.inject(
        StsError("AccessDenied", "User is not authorized to perform: sts:AssumeRole", 403),
        action="AssumeRole",
    )
    done = run_gcp2aws(["doctor", "--json", "--no-iam", *CHAIN], env.values)
    assert done.returncode == 9, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["exchange"]["status"] == "PASS"
    hop = checks["hop 2"]
    assert hop["status"] == "FAIL"
    assert "AccessDenied" in hop["detail"]
    assert "arn:aws:sts::111111111111:assumed-role/hub/" in hop["fix"]
    assert "hop 3" not in checks
    fine = run_gcp2aws(["doctor", "--json", "--no-iam", *CHAIN], env.values)
    names = {c["name"]: c["status"] for c in json.loads(fine.stdout)["checks"]}
    assert (names["hop 2"], names["hop 3"]) == ("PASS", "PASS")


def test_credentials_file_keeps_the_chains_keys(env: Env, local_sts: Any, tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    done = run_gcp2aws(
        ["credentials-file", "--profile", "spoke", "--file", str(path), "--once", *CHAIN],
        env.values,
    )
    assert done.returncode == 0, done.stderr
    arn = identity(env.with_(AWS_SHARED_CREDENTIALS_FILE=str(path), AWS_PROFILE="spoke"))
    assert arn.startswith("arn:aws:sts::333333333333:assumed-role/leaf/")
