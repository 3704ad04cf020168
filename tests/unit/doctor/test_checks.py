"""The doctor's checks one by one, in process: profile, token sources, metadata clock skew,
cache, trust-policy evaluation and iam:GetRole, rendering, and reading a profile's flags."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import settings as settings_mod
from gcp2aws.cli.doctor import settings_from_profile
from gcp2aws.doctor.checks import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    Doctor,
    _date_skew,
    render_json,
    render_text,
)
from gcp2aws.emulator.faults import StsError
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.errors import ConfigError
from gcp2aws.policy.iam import fetch_role_trust_policy
from tests.support.cli import ROLE_ARN, gcp2aws_exe

DENIED = StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)


@pytest.fixture
def environ(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """os.environ as the isolated_env fixture left it (botocore reads os.environ itself)."""
    return dict(os.environ)


@pytest.fixture
def live(
    environ: dict[str, str],
    metadata: MetadataEmulator,
    local_sts: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    values = {
        "GCE_METADATA_HOST": metadata.address,
        "GCE_METADATA_IP": metadata.address,
        "AWS_ENDPOINT_URL_STS": local_sts.url,
        "AWS_REGION": "us-east-1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**environ, **values}


def make(environ: dict[str, str], cli: dict[str, Any] | None = None, **kw: Any) -> Doctor:
    return Doctor(settings_mod.load(dict(cli or {}), environ), environ, **kw)


def by_name(checks: list[Check], name: str) -> list[Check]:
    return [c for c in checks if c.name == name]


def only(checks: list[Check], name: str) -> Check:
    (found,) = by_name(checks, name)
    return found


def write_config(environ: dict[str, str], text: str) -> Path:
    path = Path(environ["AWS_CONFIG_FILE"])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- rendering ---------------------------------------------------------------------------------


def test_render_text_shows_fix_only_for_failures_and_warnings() -> None:
    checks = [
        Check("a", PASS, "fine", "never shown"),
        Check("b", WARN, "hmm", "do this"),
        Check("c", FAIL, "broken", "do that"),
        Check("d", SKIP, "skipped", "never shown either"),
    ]
    assert render_text(checks) == (
        "PASS  a: fine\n"
        "WARN  b: hmm\n"
        "      fix: do this\n"
        "FAIL  c: broken\n"
        "      fix: do that\n"
        "SKIP  d: skipped\n"
    )


def test_render_json_ok_follows_failures() -> None:
    doc = json.loads(render_json([Check("a", PASS, "x"), Check("b", WARN, "y", "z")]))
    assert doc == {
        "ok": True,
        "checks": [
            {"name": "a", "status": "PASS", "detail": "x", "fix": ""},
            {"name": "b", "status": "WARN", "detail": "y", "fix": "z"},
        ],
    }
    assert json.loads(render_json([Check("c", FAIL, "x")]))["ok"] is False


def test_add_folds_whitespace_to_one_line(environ: dict[str, str]) -> None:
    doctor = make(environ)
    doctor.add("x", FAIL, "two\nlines  here", "fix\n  it")
    assert doctor.checks == [Check("x", FAIL, "two lines here", "fix it")]
    assert not doctor.ok


@pytest.mark.parametrize(
    ("header", "now", "expected"),
    [
        ("Mon, 01 Jan 2024 00:00:00 GMT", 1704067200.0 + 30, 30.0),
        ("Mon, 01 Jan 2024 00:00:00 GMT", 1704067200.0 - 400, -400.0),
        (None, 0.0, None),
        ("", 0.0, None),
        ("not a date", 0.0, None),
    ],
)
def test_date_skew(header: str | None, now: float, expected: float | None) -> None:
    assert _date_skew(header, now) == expected


# -- aws config --------------------------------------------------------------------------------


def test_profile_missing_file_warns(environ: dict[str, str]) -> None:
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == WARN
    assert "does not exist" in check.detail
    assert "gcp2aws init" in check.fix


def test_profile_not_found_fails_only_when_asked_for(environ: dict[str, str]) -> None:
    write_config(environ, "[profile other]\nregion = x\n")
    implicit = make(environ)
    implicit.check_profile()
    assert only(implicit.checks, "aws config").status == WARN
    explicit = make(environ, profile="ci")
    explicit.check_profile()
    check = only(explicit.checks, "aws config")
    assert check.status == FAIL
    assert "profile 'ci' not found" in check.detail


def test_profile_without_credential_process_warns(environ: dict[str, str]) -> None:
    write_config(environ, "[profile ci]\nregion = x\n")
    doctor = make(environ, profile="ci")
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == WARN
    assert "has no credential_process" in check.detail


def test_profile_with_broken_quoting_fails(environ: dict[str, str]) -> None:
    write_config(environ, "[default]\ncredential_process = 'gcp2aws credentials\n")
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == FAIL
    assert "not valid shell syntax" in check.detail


def test_profile_with_missing_executable_fails(environ: dict[str, str]) -> None:
    write_config(environ, "[default]\ncredential_process = /gone/bin/gcp2aws credentials\n")
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == FAIL
    assert "'/gone/bin/gcp2aws', which does not exist" in check.detail
    assert "command -v gcp2aws" in check.fix


def test_profile_from_aws_profile_passes(environ: dict[str, str]) -> None:
    write_config(environ, f"[profile ci]\ncredential_process = {gcp2aws_exe()} credentials\n")
    doctor = make({**environ, "AWS_PROFILE": "ci"})
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == PASS
    assert f"runs {gcp2aws_exe()}" in check.detail


def test_profile_with_a_non_executable_file_names_the_cause(
    environ: dict[str, str], tmp_path: Path
) -> None:
    exe = tmp_path / "gcp2aws"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o644)
    write_config(environ, f"[default]\ncredential_process = {exe} credentials\nregion = x\n")
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == FAIL
    assert "is not executable by this user" in check.detail


def test_profile_without_a_region_anywhere_fails(environ: dict[str, str]) -> None:
    write_config(environ, f"[profile gcp]\ncredential_process = {gcp2aws_exe()} credentials\n")
    values = {k: v for k, v in environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    doctor = make(values, profile="gcp")
    doctor.check_profile()
    check = only(doctor.checks, "aws region")
    assert check.status == FAIL
    assert "You must specify a region" in check.detail
    assert "--profile gcp" in check.fix
    assert not doctor.ok


@pytest.mark.parametrize(
    ("config_region", "env", "expected"),
    [
        ("region = ap-northeast-1\n", {}, "ap-northeast-1 (from profile 'gcp')"),
        ("", {"AWS_DEFAULT_REGION": "eu-west-2"}, "eu-west-2 (from AWS_DEFAULT_REGION)"),
        ("region = x\n", {"AWS_REGION": "us-west-2"}, "us-west-2 (from AWS_REGION)"),
    ],
)
def test_region_from_the_profile_or_the_environment_passes(
    environ: dict[str, str], config_region: str, env: dict[str, str], expected: str
) -> None:
    write_config(
        environ, f"[profile gcp]\ncredential_process = {gcp2aws_exe()} credentials\n{config_region}"
    )
    values = {k: v for k, v in environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    doctor = make({**values, **env}, profile="gcp")
    doctor.check_profile()
    check = only(doctor.checks, "aws region")
    assert (check.status, check.detail) == (PASS, expected)


def test_the_seed_recipe_script_warns(environ: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "credential_process.py"
    script.write_text("print('{}')\n")
    line = f"python3 {script} arn:aws:iam::012345678901:role/r"
    write_config(environ, f"[default]\nregion = ap-northeast-1\ncredential_process = {line}\n")
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == WARN
    assert "the blog recipe's script" in check.detail
    assert "gcp2aws init" in check.fix


def test_another_credential_process_warns(environ: dict[str, str]) -> None:
    write_config(environ, "[default]\nregion = x\ncredential_process = /bin/echo {}\n")
    doctor = make(environ)
    doctor.check_profile()
    check = only(doctor.checks, "aws config")
    assert check.status == WARN
    assert "not gcp2aws" in check.detail


def test_python_m_gcp2aws_counts_as_gcp2aws(environ: dict[str, str]) -> None:
    line = f"{sys.executable} -m gcp2aws credentials"
    write_config(environ, f"[default]\nregion = x\ncredential_process = {line}\n")
    doctor = make(environ)
    doctor.check_profile()
    assert only(doctor.checks, "aws config").status == PASS


def test_aws_profile_pointing_elsewhere_warns(environ: dict[str, str]) -> None:
    write_config(environ, f"[profile gcp]\ncredential_process = {gcp2aws_exe()} credentials\n")
    doctor = make({**environ, "AWS_PROFILE": "other"}, profile="gcp")
    doctor.check_profile()
    check = only(doctor.checks, "aws profile")
    assert check.status == WARN
    assert "AWS_PROFILE=other" in check.detail
    assert "export AWS_PROFILE=gcp" in check.fix
    same = make({**environ, "AWS_PROFILE": "gcp"}, profile="gcp")
    same.check_profile()
    assert [c for c in same.checks if c.name == "aws profile"] == []


# -- token sources -----------------------------------------------------------------------------


def test_no_source_names_why_each_does_not_apply_and_skips_metadata(
    environ: dict[str, str],
) -> None:
    doctor = make(environ)
    doctor.check_sources()
    doctor.check_metadata()
    doctor.check_token()
    check = only(doctor.checks, "token source")
    assert check.status == FAIL
    assert "not on Google Cloud" in check.detail
    assert "file: no --token-file" in check.detail
    assert "metadata: no metadata server answered" in check.detail
    assert check.fix
    # No probe of metadata.google.internal: the line above already says why it does not apply.
    assert only(doctor.checks, "metadata server").status == SKIP
    assert only(doctor.checks, "token").status == SKIP


def test_forced_source_that_is_broken_fails(environ: dict[str, str]) -> None:
    doctor = make(environ, {"token_source": "file"})
    doctor.check_sources()
    check = only(doctor.checks, "token source")
    assert check.status == FAIL
    assert "file: applies but is broken" in check.detail
    assert "--token-file" in check.detail
    assert doctor.source is None


def test_token_file_source_lists_the_sources_it_skipped(
    environ: dict[str, str], metadata: MetadataEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "tok"
    path.write_text(metadata.signer.sign(metadata.identity_claims("aud-x", full=False)))
    doctor = make(environ, {"token_file": str(path)})
    doctor.check_sources()
    doctor.check_metadata()
    doctor.check_token()
    source = only(doctor.checks, "token source")
    assert source.status == PASS
    assert source.detail.startswith("file: ")
    assert "command: no --token-command" in source.detail
    assert "not used (the token source is file)" in only(doctor.checks, "metadata server").detail
    token = only(doctor.checks, "token")
    assert token.status == PASS
    assert f"azp {metadata.unique_id!r}" in token.detail
    assert ":oaud <- aud 'aud-x'" in token.detail


# -- metadata server and clock -----------------------------------------------------------------


def run_metadata_checks(live: dict[str, str], clock: Callable[[], float]) -> list[Check]:
    doctor = make(live, clock=clock)
    doctor.check_sources()
    doctor.check_metadata()
    doctor.check_token()
    return doctor.checks


def test_clock_in_step_with_the_metadata_server(live: dict[str, str]) -> None:
    checks = run_metadata_checks(live, time.time)
    assert not by_name(checks, "clock")
    assert only(checks, "metadata server").status == PASS
    assert "clock skew against its Date header" in only(checks, "metadata server").detail


def test_clock_ahead_of_the_metadata_server_fails(live: dict[str, str]) -> None:
    checks = run_metadata_checks(live, lambda: time.time() + 900)
    (clock,) = by_name(checks, "clock")
    assert clock.status == FAIL
    assert "ahead of the metadata server's Date" in clock.detail
    assert "Synchronise" in clock.fix


def test_clock_behind_fails_twice_over(live: dict[str, str]) -> None:
    # Behind by 15 minutes: the Date header says so, and the fresh token's iat is in the future.
    checks = run_metadata_checks(live, lambda: time.time() - 900)
    clocks = by_name(checks, "clock")
    assert [c.status for c in clocks] == [FAIL, FAIL]
    assert "behind the metadata server's Date" in clocks[0].detail
    assert "issued" in clocks[1].detail
    assert "in the future" in clocks[1].detail


# -- cache -------------------------------------------------------------------------------------


def test_cache_states(environ: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    doctor = make(environ, {"cache_dir": str(directory)})
    doctor.check_cache()
    assert "will be created" in doctor.checks[-1].detail
    directory.mkdir(mode=0o700)
    doctor.check_cache()
    assert doctor.checks[-1].status == PASS
    assert "private to you" in doctor.checks[-1].detail
    os.chmod(directory, 0o770)  # noqa: S103 - group-writable: refused
    doctor.check_cache()
    check = doctor.checks[-1]
    assert check.status == WARN
    assert "runs uncached" in check.detail
    assert f"chmod 700 {directory}" in check.fix


# -- the whole run, in process -----------------------------------------------------------------


def test_run_passes_against_the_emulators(live: dict[str, str]) -> None:
    doctor = make(live, {"role_arn": ROLE_ARN})
    checks = doctor.run()
    assert doctor.ok, render_text(checks)
    assert [c.name for c in checks] == [
        "versions",
        "aws config",
        "token source",
        "metadata server",
        "token",
        "cache",
        "sts endpoint",
        "exchange",
    ]
    assert only(checks, "exchange").status == PASS
    assert "region us-east-1" in only(checks, "sts endpoint").detail


def test_run_without_role_skips_the_exchange(live: dict[str, str], local_sts: Any) -> None:
    checks = make(live).run()
    assert only(checks, "sts endpoint").status == SKIP
    assert only(checks, "exchange").status == SKIP
    assert local_sts.assume_calls == 0


def write_policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "trust.json"
    path.write_text(text)
    return str(path)


def test_denied_with_invalid_policy_file(
    live: dict[str, str], local_sts: Any, tmp_path: Path
) -> None:
    local_sts.inject(DENIED, times=5, action="AssumeRoleWithWebIdentity")
    path = write_policy(tmp_path, "{not json")
    doctor = make(live, {"role_arn": ROLE_ARN}, trust_policy_file=path)
    checks = doctor.run()
    assert not doctor.ok
    assert only(checks, "exchange").status == FAIL
    check = only(checks, "trust policy")
    assert check.status == FAIL
    assert check.detail.startswith(f"trust policy from {path}: ")


def test_allowing_policy_file_is_checked_even_when_the_exchange_works(
    live: dict[str, str], metadata: MetadataEmulator, tmp_path: Path
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {"accounts.google.com:aud": metadata.unique_id},
                    "StringLike": {"sts:RoleSessionName": "*-vm"},
                },
            }
        ],
    }
    path = write_policy(tmp_path, json.dumps(policy))
    doctor = make(live, {"role_arn": ROLE_ARN}, trust_policy_file=path)
    checks = doctor.run()
    assert doctor.ok, render_text(checks)
    assert only(checks, "trust policy").status == PASS
    # The session name the doctor evaluates is the one the exchange sends.
    other = make(live, {"role_arn": ROLE_ARN, "role_session_name": "ci-1"}, trust_policy_file=path)
    checks = other.run()
    assert only(checks, "trust policy").status == FAIL
    assert "sts:RoleSessionName" in only(checks, "trust policy").detail


# -- iam:GetRole -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def iam_keys(moto_iam: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", moto_iam)
    return moto_iam


def test_fetch_role_trust_policy_reads_the_document(iam_keys: str) -> None:
    import boto3

    name = f"fetched-{time.time_ns()}"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*"}]}
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=iam_keys)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
    document, origin = fetch_role_trust_policy(arn)
    assert document == policy
    assert origin == f"trust policy of {name} (iam:GetRole with env credentials)"


def test_fetch_role_trust_policy_names_a_missing_role(iam_keys: str) -> None:
    arn = "arn:aws:iam::123456789012:role/path/not-there"
    with pytest.raises(ConfigError) as info:
        fetch_role_trust_policy(arn)
    assert "role 'not-there' does not exist" in info.value.message
    assert f"the role ARN {arn} is wrong" in info.value.message
    assert info.value.fields["role_missing"] is True


def test_fetch_role_trust_policy_without_credentials(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^no AWS credentials to call iam:GetRole"):
        fetch_role_trust_policy(ROLE_ARN)


def test_fetch_role_trust_policy_unreachable_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"^iam:GetRole with env credentials failed: "):
        fetch_role_trust_policy(ROLE_ARN)


# -- settings from the profile -----------------------------------------------------------------


def test_settings_from_profile_reads_the_gcp2aws_flags(environ: dict[str, str]) -> None:
    write_config(
        environ,
        f"[profile ci]\ncredential_process = {gcp2aws_exe()} credentials --role-arn {ROLE_ARN}"
        " --audience gcp --region eu-west-1\n",
    )
    values, origin = settings_from_profile(environ, "ci")
    assert origin == "profile 'ci'"
    assert values["role_arn"] == ROLE_ARN
    assert values["audience"] == "gcp"
    assert values["region"] == "eu-west-1"
    assert settings_mod.load(values, environ).role_arn == ROLE_ARN


def test_settings_from_profile_uses_aws_profile(environ: dict[str, str]) -> None:
    write_config(environ, f"[profile p]\ncredential_process = gcp2aws credentials -r {ROLE_ARN}\n")
    values, _ = settings_from_profile({**environ, "AWS_PROFILE": "p"}, None)
    # "-r" is not a gcp2aws flag: the line does not parse, and that is said, not printed.
    assert values == {}
    write_config(
        environ, f"[profile p]\ncredential_process = gcp2aws credentials --role-arn {ROLE_ARN}\n"
    )
    values, origin = settings_from_profile({**environ, "AWS_PROFILE": "p"}, None)
    assert values["role_arn"] == ROLE_ARN
    assert origin == "profile 'p'"


def test_settings_from_profile_with_another_helper(environ: dict[str, str]) -> None:
    write_config(environ, "[default]\ncredential_process = aws-vault export --format=json x\n")
    assert settings_from_profile(environ, None) == (
        {},
        "profile 'default' does not run `gcp2aws credentials`",
    )


def test_settings_from_profile_with_bad_flags_says_why_quietly(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(environ, "[default]\ncredential_process = gcp2aws credentials --bogus\n")
    values, origin = settings_from_profile(environ, None)
    assert values == {}
    assert origin == (
        "profile 'default': its gcp2aws flags do not parse (unrecognized arguments: --bogus)"
    )
    # argparse's own "gcp2aws: error:" line would read as if the doctor itself had failed.
    assert capsys.readouterr().err == ""


def test_settings_from_profile_with_unreadable_file(environ: dict[str, str]) -> None:
    # A directory where the file should be: unreadable even for root.
    path = Path(environ["AWS_CONFIG_FILE"])
    path.mkdir(parents=True)
    values, origin = settings_from_profile(environ, None)
    assert values == {}
    assert origin.startswith(f"cannot read {path}")


def test_fetch_role_trust_policy_skips_a_gcp2aws_profile(
    environ: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    # A stand-in "gcp2aws" that records being run: the doctor must not run it.
    fake = tmp_path / "bin" / "gcp2aws"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    write_config(environ, f"[default]\ncredential_process = {fake} credentials\n")
    with pytest.raises(ConfigError, match="credential_process is gcp2aws itself"):
        fetch_role_trust_policy(ROLE_ARN)
    assert not marker.exists()


def test_fetch_role_trust_policy_uses_another_credential_process(
    environ: dict[str, str], tmp_path: Path, moto_iam: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "admin-creds"
    helper.write_text(
        '#!/bin/sh\necho \'{"Version": 1, "AccessKeyId": "AKIDADMIN", "SecretAccessKey": "s"}\'\n'
    )
    helper.chmod(0o755)
    write_config(environ, f"[default]\ncredential_process = {helper}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", moto_iam)
    with pytest.raises(ConfigError) as info:
        fetch_role_trust_policy("arn:aws:iam::123456789012:role/absent")
    assert "iam:GetRole with custom-process credentials" in info.value.message
    assert "does not exist" in info.value.message
