"""shellenv: variable names, the child environment, and quoting checked by real shells."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcp2aws.delivery import shellenv
from gcp2aws.errors import UsageError
from gcp2aws.models import AwsCredentials

CREDS = AwsCredentials(
    access_key_id="ASIAEXAMPLEKEY123456",
    secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    session_token="FQoGZXIvYXdzEBYaD+token/with+slashes==",
    expiration=datetime(2026, 11, 28, 23, 59, 34, tzinfo=timezone.utc),
)

ADVERSARIAL = [
    "",
    "plain",
    "it's",
    "'",
    "''",
    '"double" quotes',
    "back\\slash",
    "\\",
    "trailing backslash\\",
    "\\'",
    "$HOME and ${HOME} and $(id) and `id`",
    "line1\nline2",
    "trailing newline\n",
    "\n\n",
    "tab\tand\rcarriage",
    "ünïcödé ✓ 日本語 🚀",
    "\u2018typographic\u2019 quotes \u201a\u201b",
    "semi; colon && pipe | amp & star * glob ? [x]",
    "# not a comment",
    "!history",
    "-n",
    "%percent%",
    " leading and trailing spaces ",
]

# Everything an environment variable can hold: any text without NUL or lone surrogates.
env_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=40,
)


def _utf8_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C.UTF-8"}


def _eval_sh(shell: str, script: str, names: list[str]) -> list[bytes]:
    """Let ``shell`` eval the script as users do, then print each variable NUL-separated."""
    printer = "; ".join(f'printf "%s\\0" "${n}"' for n in names)
    proc = subprocess.run(
        [shell, "-c", f'eval "$(cat)"; {printer}'],
        input=script.encode(),
        capture_output=True,
        check=True,
        env=_utf8_env(),
    )
    return proc.stdout.split(b"\0")[:-1]


def _source_fish(script: str, names: list[str]) -> list[bytes]:
    printer = "; ".join(f'printf "%s\\0" "${n}"' for n in names)
    proc = subprocess.run(
        ["fish", "--no-config", "-c", f"cat | source; {printer}"],
        input=script.encode(),
        capture_output=True,
        check=True,
        env=_utf8_env(),
    )
    return proc.stdout.split(b"\0")[:-1]


# -- variables and the child environment ---------------------------------------------------------
def test_credential_vars_names_values_and_region() -> None:
    out = shellenv.credential_vars(CREDS, "eu-west-1")
    assert out == {
        "AWS_ACCESS_KEY_ID": CREDS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": CREDS.secret_access_key,
        "AWS_SESSION_TOKEN": CREDS.session_token,
        "AWS_CREDENTIAL_EXPIRATION": "2026-11-28T23:59:34Z",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    assert "AWS_REGION" not in shellenv.credential_vars(CREDS)


def test_child_environ_removes_conflicts_and_keeps_the_rest() -> None:
    base = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "prod",
        "AWS_DEFAULT_PROFILE": "prod",
        "AWS_SECURITY_TOKEN": "old",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "x",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x",
        "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
        "AWS_ROLE_ARN": "arn:aws:iam::1:role/other",
        "AWS_ACCESS_KEY_ID": "AKIAOLD",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:2",
    }
    env = shellenv.child_environ(base, shellenv.credential_vars(CREDS))
    assert env["PATH"] == "/usr/bin"
    assert env["AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:2"
    assert env["AWS_ACCESS_KEY_ID"] == CREDS.access_key_id
    for gone in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        assert gone not in env
    # Extra variables win even when their prefix is a conflicting one (exec --server).
    env = shellenv.child_environ(base, {"AWS_CONTAINER_AUTHORIZATION_TOKEN": "new"})
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == "new"
    assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" not in env


# -- rendering -------------------------------------------------------------------------------------
def test_render_sh_shape() -> None:
    text = shellenv.render({"A": "x", "B": "it's"}, "sh")
    assert text == "export A='x'\nexport B='it'\\''s'\n"


def test_render_fish_and_powershell_shapes() -> None:
    assert shellenv.render({"A": "a'b\\c"}, "fish") == "set -gx A 'a\\'b\\\\c'\n"
    assert shellenv.render({"A": "a'b\u2019c"}, "powershell") == "$Env:A = 'a''b\u2019\u2019c'\n"


def test_render_json_round_trips() -> None:
    values = {f"V{i}": v for i, v in enumerate(ADVERSARIAL)}
    assert json.loads(shellenv.render(values, "json")) == values


def test_render_dotenv_plain_values_are_unquoted_for_docker() -> None:
    text = shellenv.render(shellenv.credential_vars(CREDS, "us-east-1"), "dotenv")
    assert f"AWS_SECRET_ACCESS_KEY={CREDS.secret_access_key}\n" in text
    assert "AWS_CREDENTIAL_EXPIRATION=2026-11-28T23:59:34Z\n" in text
    assert '"' not in text


@pytest.mark.parametrize("value", [v for v in ADVERSARIAL if "$" not in v])
def test_dotenv_round_trips_through_python_dotenv(value: str) -> None:
    dotenv = pytest.importorskip("dotenv")
    text = shellenv.render({"V": value, "AFTER": "ok"}, "dotenv")
    parsed = dotenv.dotenv_values(stream=io.StringIO(text))  # interpolation on, as by default
    assert parsed == {"V": value, "AFTER": "ok"}


def test_dotenv_refuses_dollar() -> None:
    with pytest.raises(UsageError, match=r"V contains '\$'"):
        shellenv.render({"V": "a$b"}, "dotenv")


@pytest.mark.parametrize("fmt", shellenv.FORMATS)
def test_render_refuses_bad_names_and_nul(fmt: str) -> None:
    with pytest.raises(UsageError, match="invalid environment variable name"):
        shellenv.render({"A B": "x"}, fmt)
    with pytest.raises(UsageError, match="NUL"):
        shellenv.render({"A": "x\0y"}, fmt)


def test_render_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown format"):
        shellenv.render({"A": "x"}, "csh")


# -- real shells -----------------------------------------------------------------------------------
SH_SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_sh_adversarial_values_survive_eval(shell: str) -> None:
    values = {f"V{i}": v for i, v in enumerate(ADVERSARIAL)}
    got = _eval_sh(shell, shellenv.render(values, "sh"), list(values))
    assert got == [v.encode() for v in values.values()]


@pytest.mark.parametrize("shell", SH_SHELLS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=env_text, b=env_text)
def test_sh_quoting_round_trips_hypothesis(shell: str, a: str, b: str) -> None:
    got = _eval_sh(shell, shellenv.render({"A": a, "B": b}, "sh"), ["A", "B"])
    assert got == [a.encode(), b.encode()]


needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")


@needs_fish
def test_fish_adversarial_values_survive_source() -> None:
    values = {f"V{i}": v for i, v in enumerate(ADVERSARIAL)}
    got = _source_fish(shellenv.render(values, "fish"), list(values))
    assert got == [v.encode() for v in values.values()]


@needs_fish
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=env_text)
def test_fish_quoting_round_trips_hypothesis(a: str) -> None:
    assert _source_fish(shellenv.render({"A": a}, "fish"), ["A"]) == [a.encode()]


@pytest.mark.skipif(shutil.which("pwsh") is None, reason="PowerShell is not installed")
def test_powershell_adversarial_values_survive_invoke_expression() -> None:
    values = {f"V{i}": v for i, v in enumerate(ADVERSARIAL)}
    script = shellenv.render(values, "powershell")
    printer = "; ".join(f"[Console]::Out.Write($Env:{n} + [char]0)" for n in values)
    proc = subprocess.run(
        ["pwsh", "-NoProfile", "-Command", f"$input | Out-String | Invoke-Expression; {printer}"],
        input=script.encode(),
        capture_output=True,
        check=True,
    )
    got = proc.stdout.split(b"\0")[:-1]
    # PowerShell's environment cannot hold an empty value: setting one removes the variable.
    assert got == [v.encode() for v in values.values()]
