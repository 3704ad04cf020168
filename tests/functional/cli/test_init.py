"""``gcp2aws init``: byte-preserving profile writes on real-world config files, the safety rules
around existing profiles and file modes, and verification with the real AWS CLI."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.configloader import raw_config_parse

from gcp2aws.emulator.faults import StsError
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

ASSUMED_ARN = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"
DENIED = StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)

# A config as people really have them: comments of both kinds, SSO, nested services blocks.
BUSY = """\
# Managed by hand. Keep these comments!
; a semicolon comment too

[default]
region = eu-west-1
output = json

[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Developer
region = us-west-2   ; inline-looking text stays as it is

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[services local-s3]
s3 =
  endpoint_url = http://localhost:9000
  addressing_style = path

[profile with-services]
services = local-s3
region = us-east-1
# trailing comment at the end
"""


def config_file(env: Env) -> Path:
    return Path(env.values["AWS_CONFIG_FILE"])


def expected_command(*flags: str) -> list[str]:
    return [gcp2aws_exe(), "credentials", "--role-arn", ROLE_ARN, *flags]


# The emulator's VM sits in us-central1-a; with no region exported, init picks the nearest.
ZONE_REGION = "us-east-2"
NO_REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")


def init(
    env: Env | dict[str, str], *args: str, verify: bool = False
) -> subprocess.CompletedProcess[str]:
    """``gcp2aws init`` as a newcomer runs it: no region exported anywhere."""
    values = env.values if isinstance(env, Env) else env
    values = {k: v for k, v in values.items() if k not in NO_REGION}
    extra = [] if verify else ["--no-verify"]
    # stdin is a pipe (never a tty): init must not wait for an answer.
    return run_gcp2aws(["init", "--role-arn", ROLE_ARN, *extra, *args], values, input="")


def section_text(profile: str, *flags: str, eol: str = "\n", region: str = ZONE_REGION) -> str:
    header = "[default]" if profile == "default" else f"[profile {profile}]"
    line = " ".join(shlex.quote(word) for word in expected_command(*flags))
    return f"{header}{eol}credential_process = {line}{eol}region = {region}{eol}"


def botocore_view(path: Path) -> dict[str, dict[str, str]]:
    """Every section as botocore reads it."""
    parsed = raw_config_parse(str(path))
    return {name: dict(values) for name, values in parsed.items()}


def others(view: dict[str, dict[str, str]], section: str) -> dict[str, dict[str, str]]:
    return {name: values for name, values in view.items() if name != section}


def write(path: Path, data: bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, mode)


def bak(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


# -- appending to existing files --------------------------------------------------------------


def test_busy_file_keeps_every_byte_and_gets_the_profile_appended(env: Env) -> None:
    path = config_file(env)
    write(path, BUSY.encode())
    before = botocore_view(path)
    proc = init(env, "--profile", "ci")
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text == BUSY + "\n" + section_text("ci")
    after = botocore_view(path)
    assert others(after, "profile ci") == before
    argv = shlex.split(after["profile ci"]["credential_process"])
    assert argv == expected_command()
    assert bak(path).read_text() == BUSY
    assert "wrote [profile ci]" in proc.stderr


def test_crlf_file_gets_crlf_lines(env: Env) -> None:
    path = config_file(env)
    original = BUSY.replace("\n", "\r\n").encode()
    write(path, original)
    before = botocore_view(path)
    assert init(env, "--profile", "ci").returncode == 0
    data = path.read_bytes()
    assert data.startswith(original)
    added = data[len(original) :]
    assert added == ("\r\n" + section_text("ci", eol="\r\n")).encode()
    assert b"\n" not in added.replace(b"\r\n", b"")
    assert others(botocore_view(path), "profile ci") == before


def test_missing_trailing_newline_does_not_glue_lines(env: Env) -> None:
    path = config_file(env)
    write(path, b"[default]\nregion = eu-west-1")
    assert init(env, "--profile", "ci").returncode == 0
    assert path.read_text() == "[default]\nregion = eu-west-1\n\n" + section_text("ci")
    view = botocore_view(path)
    assert view["default"] == {"region": "eu-west-1"}
    assert shlex.split(view["profile ci"]["credential_process"]) == expected_command()


def test_flags_are_carried_on_the_credential_process_line(env: Env) -> None:
    path = config_file(env)
    args = ["--region", "eu-west-2", "--audience", "https://x/?a=1&b", "--timeout", "7"]
    proc = init(env, "--profile", "ci", *args)
    assert proc.returncode == 0, proc.stderr
    view = botocore_view(path)["profile ci"]
    assert view["region"] == "eu-west-2"
    argv = shlex.split(view["credential_process"])
    assert argv[:4] == expected_command()
    rest = argv[4:]
    assert rest[rest.index("--region") + 1] == "eu-west-2"
    assert rest[rest.index("--audience") + 1] == "https://x/?a=1&b"  # quoted for sh -c
    assert "--no-verify" not in rest
    assert "--timeout" not in rest


# -- idempotence and existing profiles ---------------------------------------------------------


def test_second_run_changes_nothing(env: Env) -> None:
    path = config_file(env)
    write(path, BUSY.encode())
    assert init(env, "--profile", "ci").returncode == 0
    first = path.read_bytes()
    first_stat = path.stat()
    proc = init(env, "--profile", "ci")
    assert proc.returncode == 0, proc.stderr
    assert "already up to date" in proc.stderr
    assert path.read_bytes() == first
    again = path.stat()
    assert (again.st_ino, again.st_mtime_ns) == (first_stat.st_ino, first_stat.st_mtime_ns)
    # The backup still holds the file as it was before the first run: not rewritten.
    assert bak(path).read_text() == BUSY


def test_identical_existing_profile_is_left_alone(env: Env) -> None:
    path = config_file(env)
    original = (BUSY + "\n" + section_text("ci") + "\n[profile after]\nregion = x\n").encode()
    write(path, original)
    proc = init(env, "--profile", "ci")
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == original
    assert not bak(path).exists()


OLD_SECTION = (
    "[profile ci]\n"
    "# my note about ci\n"
    "credential_process = /old/bin/gcp2aws credentials --role-arn "
    "arn:aws:iam::123456789012:role/old\n"
    "region = eu-central-1\n"
    "\n"
)
PREFIX = BUSY + "\n"
SUFFIX = "[profile later]\nregion = ap-south-1\n"


def test_differing_profile_is_refused_without_yes(env: Env) -> None:
    path = config_file(env)
    original = (PREFIX + OLD_SECTION + SUFFIX).encode()
    write(path, original)
    proc = init(env, "--profile", "ci")
    assert_clean_failure(proc, 2)
    assert "--yes" in proc.stderr
    assert "credential_process" in proc.stderr  # says which settings differ
    assert path.read_bytes() == original
    assert not bak(path).exists()


def test_differing_profile_is_overwritten_with_yes(env: Env) -> None:
    path = config_file(env)
    original = PREFIX + OLD_SECTION + SUFFIX
    write(path, original.encode())
    proc = init(env, "--profile", "ci", "--yes")
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    assert text.startswith(PREFIX)
    assert text.endswith(SUFFIX)
    middle = text[len(PREFIX) : len(text) - len(SUFFIX)]
    line = section_text("ci").split("\n")[1]
    # Only the credential_process line changed; the comment and region stay in place.
    assert "gcp2aws: region eu-central-1: kept from the profile" in proc.stderr
    assert middle == ("[profile ci]\n# my note about ci\n" + line + "\nregion = eu-central-1\n\n")
    assert bak(path).read_text() == original


def test_differing_profile_overwritten_after_yes_on_a_tty(env: Env) -> None:
    path = config_file(env)
    original = PREFIX + OLD_SECTION + SUFFIX
    write(path, original.encode())
    master, slave = os.openpty()
    try:
        os.write(master, b"y\n")
        proc = subprocess.run(
            [gcp2aws_exe(), "init", "--role-arn", ROLE_ARN, "--no-verify", "--profile", "ci"],
            env=env.values,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr
    assert "Overwrite?" in proc.stderr
    assert shlex.split(botocore_view(path)["profile ci"]["credential_process"]) == (
        expected_command()
    )


# -- files, directories and modes --------------------------------------------------------------


def test_read_only_file_is_a_clean_error_and_untouched(env: Env) -> None:
    path = config_file(env)
    write(path, BUSY.encode(), mode=0o444)
    proc = init(env, "--profile", "ci")
    assert_clean_failure(proc, 3)
    assert str(path) in proc.stderr
    assert path.read_bytes() == BUSY.encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp, no .bak


def test_missing_directory_is_created_private(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "aws" / "config"
    values = env.with_(AWS_CONFIG_FILE=str(path))
    proc = init(values)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == section_text("default")
    assert not bak(path).exists()  # nothing to back up


def test_existing_mode_is_kept(env: Env) -> None:
    path = config_file(env)
    write(path, BUSY.encode(), mode=0o644)
    assert init(env, "--profile", "ci").returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(bak(path).stat().st_mode) == 0o644
    assert bak(path).read_bytes() == BUSY.encode()


def test_print_changes_nothing(env: Env) -> None:
    path = config_file(env)
    write(path, BUSY.encode())
    proc = init(env, "--profile", "ci", "--print")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == section_text("ci")
    assert path.read_bytes() == BUSY.encode()
    assert not bak(path).exists()


def test_print_without_a_file_creates_nothing(env: Env) -> None:
    path = config_file(env)
    proc = init(env, "--print")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == section_text("default")
    assert not path.parent.exists()


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn", ["not-an-arn", "arn:aws:iam::12345:role/x", "arn:aws:iam::123456789012:user/x"]
)
def test_invalid_role_arn_exits_2_before_touching_the_file(env: Env, arn: str) -> None:
    path = config_file(env)
    write(path, BUSY.encode())
    proc = run_gcp2aws(["init", "--role-arn", arn, "--profile", "ci"], env.values, input="")
    assert_clean_failure(proc, 2)
    assert path.read_bytes() == BUSY.encode()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_invalid_role_arn_does_not_create_the_directory(env: Env) -> None:
    proc = run_gcp2aws(["init", "--role-arn", "nope"], env.values, input="")
    assert_clean_failure(proc, 2)
    assert not config_file(env).parent.exists()


def test_missing_role_arn_exits_2(env: Env) -> None:
    proc = run_gcp2aws(["init", "--profile", "ci"], env.values, input="")
    assert_clean_failure(proc, 2)
    assert not config_file(env).parent.exists()


@pytest.mark.parametrize("name", ["my profile", "a]b", "", " lead", 'quo"te'])
def test_invalid_profile_name_exits_2(env: Env, name: str) -> None:
    path = config_file(env)
    write(path, BUSY.encode())
    proc = init(env, "--profile", name)
    assert_clean_failure(proc, 2)
    assert "profile" in proc.stderr
    assert path.read_bytes() == BUSY.encode()
    assert not bak(path).exists()


# -- verification and the real AWS CLI --------------------------------------------------------


def aws_cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        env=env.values,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
def test_new_user_reaches_get_caller_identity(env: Env) -> None:
    """pip install + `gcp2aws init` is enough for `aws sts get-caller-identity` to work."""
    path = config_file(env)
    write(path, BUSY.encode())
    proc = init(env, "--profile", "gcp", verify=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == ASSUMED_ARN
    assert "aws sts get-caller-identity --profile gcp" in proc.stdout
    assert "verified" in proc.stderr
    result = aws_cli(env, "sts", "get-caller-identity", "--profile", "gcp")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == ASSUMED_ARN


@pytest.mark.e2e
def test_default_profile_works_without_profile_flag(env: Env) -> None:
    proc = init(env, verify=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [ASSUMED_ARN, "Try: aws sts get-caller-identity"]
    result = aws_cli(env, "sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == ASSUMED_ARN


def test_failed_verification_exits_6_with_the_doctor_report(env: Env, local_sts: object) -> None:
    local_sts.inject(DENIED, times=20, action="AssumeRoleWithWebIdentity")  # type: ignore[attr-defined]
    proc = init(env, "--profile", "ci", "--timeout", "5", verify=True)
    assert proc.returncode == 6, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "verification failed" in proc.stderr
    assert "AccessDenied" in proc.stderr
    assert "FAIL  exchange:" in proc.stderr  # the doctor's checklist
    assert "PASS  token:" in proc.stderr
    # The profile stays written: fix the trust policy, then `aws ...` works without rerunning.
    view = botocore_view(config_file(env))
    assert shlex.split(view["profile ci"]["credential_process"]) == expected_command()


def test_settings_from_gcp2aws_variables_are_written_into_the_profile(env: Env) -> None:
    # The AWS CLI runs credential_process later, in environments without these variables:
    # a profile that works only while GCP2AWS_ROLE_ARN is set would break silently.
    values = env.with_(GCP2AWS_ROLE_ARN=ROLE_ARN, GCP2AWS_AUDIENCE="from-env", GCP2AWS_TIMEOUT="9")
    proc = run_gcp2aws(["init", "--no-verify", "--profile", "ci", "--region", "eu-west-2"], values)
    assert proc.returncode == 0, proc.stderr
    view = botocore_view(config_file(env))["profile ci"]
    argv = shlex.split(view["credential_process"])
    assert argv == [*expected_command("--audience", "from-env", "--region", "eu-west-2")]
    assert view["region"] == "eu-west-2"


def test_failing_get_caller_identity_is_a_clean_error(env: Env, local_sts: object) -> None:
    # The exchange works but the signed call with the new credentials does not (e.g. STS
    # disabled in that region for the account): a clean error, not "internal error".
    refused = StsError("InvalidClientTokenId", "The security token included is invalid.", 403)
    local_sts.inject(refused, times=5, action="GetCallerIdentity")  # type: ignore[attr-defined]
    proc = init(env, "--profile", "ci", "--timeout", "5", verify=True)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert "internal error" not in proc.stderr
    assert "GetCallerIdentity" in proc.stderr
    assert "InvalidClientTokenId" in proc.stderr


def test_hanging_get_caller_identity_respects_the_timeout(env: Env, local_sts: object) -> None:
    from gcp2aws.emulator.faults import Hang

    local_sts.inject(Hang(30), times=10, action="GetCallerIdentity")  # type: ignore[attr-defined]
    started = time.monotonic()
    proc = init(env, "--profile", "ci", "--timeout", "3", verify=True)
    elapsed = time.monotonic() - started
    assert proc.returncode == 7, proc.stderr
    assert "GetCallerIdentity" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 25  # not botocore's default 60 s read timeout times its retries


def test_failed_verification_of_the_default_profile_does_not_rerun_it(
    env: Env, local_sts: object
) -> None:
    # The doctor reads the role with whatever AWS credentials botocore finds; for the default
    # profile just written those come from gcp2aws itself, which would only be denied again.
    local_sts.inject(DENIED, times=20, action="AssumeRoleWithWebIdentity")  # type: ignore[attr-defined]
    proc = init(env, "--timeout", "5", verify=True)
    assert proc.returncode == 6, proc.stderr
    assert local_sts.assume_calls == 2  # type: ignore[attr-defined]  # init's, the doctor's
    assert "the profile's credential_process is gcp2aws itself" in proc.stderr
