"""Chain order and dispatch, and the file and command sources (real files and processes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.emulator.signer import Signer
from gcp2aws.errors import (
    ConfigError,
    NoTokenSourceError,
    TokenInvalidError,
    TokenUnavailableError,
    UsageError,
)
from gcp2aws.idtoken import chain
from gcp2aws.idtoken.base import default_session_name
from gcp2aws.idtoken.command import CommandSource
from gcp2aws.idtoken.file import FileSource
from gcp2aws.provider import CredentialProvider
from gcp2aws.retry import Deadline
from gcp2aws.settings import load
from tests.support.google import USER, write_json

SIGNER = Signer()


def jwt(lifetime: int = 3600, **claims: object) -> str:
    now = int(time.time())
    body = {
        "aud": "my-issuer-aud",
        "sub": "repo:o/r",
        "iss": "https://token.example",
        "iat": now,
        "exp": now + lifetime,
        **claims,
    }
    return SIGNER.sign(body)


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "GCE_METADATA_IP": "127.0.0.1:9", **extra}


# -- order and dispatch ----------------------------------------------------------------------


def test_order_explicit_flags_before_ambient(tmp_path: Path, metadata: MetadataEmulator) -> None:
    token_file = tmp_path / "t"
    token_file.write_text(jwt())
    env = env_for(tmp_path, GCE_METADATA_HOST=metadata.address)
    both = load(
        {
            "token_command": "echo x",
            "token_file": str(token_file),
            "impersonate_service_account": "a@b.iam.gserviceaccount.com",
        },
        env,
    )
    assert chain.select(both, env).name == "command"
    no_cmd = load(
        {
            "token_file": str(token_file),
            "impersonate_service_account": "a@b.iam.gserviceaccount.com",
        },
        env,
    )
    assert chain.select(no_cmd, env).name == "file"
    assert (
        chain.select(load({"impersonate_service_account": "a@b.c"}, env), env).name == "impersonate"
    )
    assert chain.select(load({}, env), env).name == "metadata"
    assert metadata.identity_calls == 0  # selecting never fetches


def test_forced_source_wins(tmp_path: Path, metadata: MetadataEmulator) -> None:
    env = env_for(tmp_path, GCE_METADATA_HOST=metadata.address, GCP2AWS_TOKEN_SOURCE="metadata")
    settings = load({"token_command": "echo x"}, env)
    assert chain.select(settings, env).name == "metadata"


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("command", "--token-command"),
        ("file", "--token-file"),
        ("impersonate", "--impersonate-service-account"),
        ("service-account-key", "GOOGLE_APPLICATION_CREDENTIALS"),
        ("adc-impersonated", "GOOGLE_APPLICATION_CREDENTIALS"),
    ],
)
def test_forced_source_without_its_flag(tmp_path: Path, name: str, flag: str) -> None:
    env = env_for(tmp_path)
    with pytest.raises(ConfigError) as err:
        chain.select(load({"token_source": name}, env), env)
    assert f"--token-source {name} needs" in err.value.one_line()
    assert flag in err.value.one_line()


@pytest.mark.parametrize("kind", ["authorized_user", "external_account"])
def test_user_and_federated_files_say_pass_impersonate(
    tmp_path: Path, google_apis: GoogleApisEmulator, kind: str
) -> None:
    info = (
        google_apis.add_authorized_user(USER)
        if kind == "authorized_user"
        else {
            "type": "external_account",
            "audience": "//iam.googleapis.com/x",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"file": "/dev/null"},
        }
    )
    env = env_for(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=write_json(tmp_path / "c.json", info))
    with pytest.raises(ConfigError) as err:
        chain.select(load({}, env), env)
    line = err.value.one_line()
    assert f"holds {kind} credentials" in line
    assert "cannot mint ID tokens for an arbitrary audience" in line
    assert "--impersonate-service-account EMAIL" in line


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("{not json", "is not JSON"), ('{"x": 1}', "has no 'type' field")],
)
def test_broken_credentials_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "creds.json"
    if content is not None:
        path.write_text(content)
    env = env_for(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(path))
    with pytest.raises(ConfigError, match=message):
        chain.select(load({}, env), env)


def test_gcloud_user_login_alone_gives_the_hint(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    write_json(
        gcloud / "application_default_credentials.json", google_apis.add_authorized_user(USER)
    )
    env = env_for(tmp_path, CLOUDSDK_CONFIG=str(gcloud))
    with pytest.raises(NoTokenSourceError) as err:
        chain.select(load({}, env), env)
    line = err.value.one_line()
    assert line.startswith("not on Google Cloud, and the gcloud credentials in")
    assert "Pass --impersonate-service-account EMAIL" in line


def test_nothing_at_all(tmp_path: Path) -> None:
    env = env_for(tmp_path, CLOUDSDK_CONFIG=str(tmp_path / "none"))
    with pytest.raises(NoTokenSourceError) as err:
        chain.select(load({}, env), env)
    assert err.value.one_line().startswith(
        "not on Google Cloud and no credentials found. Run `gcloud auth application-default "
        "login` and pass --impersonate-service-account"
    )


def test_metadata_token_without_compute_engine_claims_names_session_after_email(
    tmp_path: Path,
) -> None:
    with MetadataEmulator(
        compute_engine_claims=False, email="ci-runner@p.iam.gserviceaccount.com"
    ) as md:
        env = env_for(tmp_path, GCE_METADATA_HOST=md.address)
        token = CredentialProvider(load({}, env), environ=env).fetch_token(Deadline(5))
    assert token.instance_name == ""
    assert default_session_name(token) == "ci-runner"


# -- file ------------------------------------------------------------------------------------


def test_file_is_reread_on_every_fetch(tmp_path: Path) -> None:
    path = tmp_path / "token"
    source = FileSource(str(path))
    assert source.requests_audience is False
    path.write_text(jwt(sub="first") + "\n")
    assert source.fetch("ignored", Deadline(1)).sub == "first"
    path.write_text(jwt(sub="second"))
    assert source.fetch("ignored", Deadline(1)).sub == "second"


def test_file_any_audience_passes_the_provider(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(jwt())
    env = env_for(tmp_path)
    token = CredentialProvider(load({"token_file": str(path)}, env), environ=env).fetch_token(
        Deadline(1)
    )
    assert token.aud == "my-issuer-aud"


def test_file_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(
        TokenUnavailableError, match=r"^file: cannot read token file .*No such file"
    ):
        FileSource(str(tmp_path / "missing")).fetch("a", Deadline(1))
    with pytest.raises(TokenUnavailableError, match="cannot read token file"):
        FileSource(str(tmp_path)).fetch("a", Deadline(1))  # a directory


def test_file_expired_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(jwt(lifetime=-600))
    env = env_for(tmp_path)
    provider = CredentialProvider(load({"token_file": str(path)}, env), environ=env)
    with pytest.raises(TokenInvalidError, match=r"the token expired \d+s ago"):
        provider.fetch_token(Deadline(1))


def test_file_with_junk(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("<html>oops</html>")
    with pytest.raises(TokenInvalidError, match="not a JWT"):
        FileSource(str(path)).fetch("a", Deadline(1))


# -- command ---------------------------------------------------------------------------------


def py(code: str) -> str:
    return f"{sys.executable} -c {code!r}"


def test_command_stdout_is_the_token(tmp_path: Path) -> None:
    token = jwt(sub="from-command")
    script = tmp_path / "print token.py"  # a space: split like a shell, quotes respected
    script.write_text(f"import sys\nassert sys.argv[1] == 'two words'\nprint({token!r})\n")
    source = CommandSource(f"{sys.executable} '{script}' 'two words'")
    assert source.requests_audience is False
    assert source.argv[-1] == "two words"
    assert source.fetch("a", Deadline(5)).sub == "from-command"


def test_command_is_not_run_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    source = CommandSource(f"echo x; touch {marker}")
    with pytest.raises(TokenInvalidError):
        source.fetch("a", Deadline(5))  # echo prints "x; touch ..." literally
    assert not marker.exists()


def test_command_failure_names_program_and_status_not_stdout() -> None:
    token = jwt()
    source = CommandSource(
        py(f"import sys; print({token!r}); print('auth expired', file=sys.stderr); sys.exit(3)")
    )
    with pytest.raises(TokenUnavailableError) as err:
        source.fetch("a", Deadline(5))
    line = err.value.one_line()
    assert "exited with status 3: auth expired" in line
    assert line.startswith("command: python")
    assert token not in line


def test_command_that_hangs_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = (
        f"import os, subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    source = CommandSource(py(code), max_seconds=1.0)
    start = time.monotonic()
    with pytest.raises(TokenUnavailableError, match="did not finish within 1s and was killed"):
        source.fetch("a", Deadline(30))
    assert time.monotonic() - start < 10
    # the grandchild went with it (same process group)
    child = int(pidfile.read_text())
    for _ in range(100):
        try:
            with open(f"/proc/{child}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("grandchild still running")


def test_command_not_found() -> None:
    with pytest.raises(TokenUnavailableError, match="cannot run no-such-program-x"):
        CommandSource("no-such-program-x --flag").fetch("a", Deadline(5))


@pytest.mark.parametrize("command", ["", "   ", "'unclosed"])
def test_command_that_cannot_be_split(command: str) -> None:
    with pytest.raises(UsageError):
        CommandSource(command)


def test_command_empty_output() -> None:
    with pytest.raises(TokenInvalidError, match="empty token"):
        CommandSource("true").fetch("a", Deadline(5))


def test_gcloud_key_file_comes_before_the_metadata_server(
    tmp_path: Path, metadata: MetadataEmulator, google_apis: GoogleApisEmulator
) -> None:
    # google-auth's order: gcloud's ADC file before the metadata server.
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    key = google_apis.create_service_account_key("ci@p.iam.gserviceaccount.com", project_id="p")
    write_json(gcloud / "application_default_credentials.json", key)
    env = env_for(tmp_path, GCE_METADATA_HOST=metadata.address, CLOUDSDK_CONFIG=str(gcloud))
    assert chain.select(load({}, env), env).name == "service-account-key"


def test_gcloud_user_credentials_leave_the_metadata_server_its_turn(
    tmp_path: Path, metadata: MetadataEmulator, google_apis: GoogleApisEmulator
) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    write_json(
        gcloud / "application_default_credentials.json", google_apis.add_authorized_user(USER)
    )
    on_gce = env_for(tmp_path, GCE_METADATA_HOST=metadata.address, CLOUDSDK_CONFIG=str(gcloud))
    assert chain.select(load({}, on_gce), on_gce).name == "metadata"
    laptop = env_for(tmp_path, CLOUDSDK_CONFIG=str(gcloud))
    with pytest.raises(NoTokenSourceError) as err:
        chain.select(load({}, laptop), laptop)
    assert "--impersonate-service-account" in err.value.one_line()
