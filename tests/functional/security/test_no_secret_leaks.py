"""No secret key, session token or ID token reaches a stream it was not asked for.

Every ID token the metadata emulator signs and every secret access key and session token the
local STS hands out is recorded as it is issued; then a representative set of commands runs
(successes and failures, with --debug) and every captured stream is scanned for all of them.
By design ``credentials`` and ``env`` print the credentials on stdout and ``token`` prints the
ID token on stdout: those streams are scanned for the other kinds only.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.faults import StsError as StsFault
from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe, run_gcp2aws
from tests.support.security import leaks

ACTION = "AssumeRoleWithWebIdentity"
DENIED = StsFault("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
_XML_SECRET = re.compile(rb"<(SecretAccessKey|SessionToken)>([^<]+)</")


@dataclass
class Issued:
    id_tokens: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)  # secret keys and session tokens

    @property
    def everything(self) -> list[str]:
        return [*self.id_tokens, *self.credentials]


@pytest.fixture
def issued(
    env: Env, metadata: MetadataEmulator, local_sts: Any, monkeypatch: pytest.MonkeyPatch
) -> Issued:
    record = Issued()
    sign: Callable[[dict[str, Any]], str] = metadata.signer.sign

    def signing(claims: dict[str, Any]) -> str:
        token = sign(claims)
        record.id_tokens.append(token)
        return token

    monkeypatch.setattr(metadata.signer, "sign", signing)
    forward = local_sts._forward

    def forwarding(handler: Any, method: str, body: bytes) -> None:
        reply = handler.reply

        def replying(status: int, payload: bytes, *args: Any, **kwargs: Any) -> None:
            for _, value in _XML_SECRET.findall(payload):
                record.credentials.append(value.decode())
            reply(status, payload, *args, **kwargs)

        handler.reply = replying
        forward(handler, method, body)

    monkeypatch.setattr(local_sts, "_forward", forwarding)
    return record


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_gcp2aws(args, env, timeout=120)


def _assert_clean(
    issued: Issued, proc: subprocess.CompletedProcess[str], *, stdout_may: str
) -> None:
    """Scan stderr for everything; stdout for everything but what the command prints by design."""
    on_stdout = {
        "nothing": issued.everything,
        "credentials": issued.id_tokens,
        "id token": issued.credentials,
    }[stdout_may]
    found = leaks(issued.everything, stderr=proc.stderr) + leaks(on_stdout, stdout=proc.stdout)
    assert found == [], (proc.args, found)


def test_no_secret_in_any_stream_across_commands(
    env: Env, issued: Issued, local_sts: Any, tmp_path: Path
) -> None:
    role = ["--role-arn", ROLE_ARN]
    values = env.values
    debug = env.with_(GCP2AWS_DEBUG="1")

    # Successes first, so that credentials and tokens exist to be leaked later.
    ran: list[tuple[subprocess.CompletedProcess[str], str]] = []
    for args, may in (
        (["credentials", *role, "--debug"], "credentials"),
        (["credentials", *role, "--debug", "--no-cache"], "credentials"),
        (["credentials", *role], "credentials"),  # from the cache
        (["env", *role, "--debug", "--no-cache"], "credentials"),
        (["env", *role, "--format", "json", "--debug"], "credentials"),
        (["token", "--debug"], "id token"),
        (["token", "--decode", "--debug"], "nothing"),
        (["token", "--write", str(tmp_path / "tok"), "--debug"], "nothing"),
        (["exec", *role, "--debug", "--no-cache", "--", "true"], "nothing"),
        (["doctor", *role, "--debug", "--no-iam"], "nothing"),
        (["doctor", *role, "--json", "--no-iam"], "nothing"),
        (["init", *role, "--yes", "--debug"], "nothing"),
        (["cache", "list", "--debug"], "nothing"),
    ):
        proc = _run(args, values)
        assert proc.returncode == 0, (args, proc.stderr)
        ran.append((proc, may))
    assert len(issued.id_tokens) >= 5
    assert len(issued.credentials) >= 8
    # The control: the scan does find what is printed by design.
    token_proc = next(p for p, may in ran if may == "id token")
    assert leaks(issued.id_tokens, stdout=token_proc.stdout)
    assert leaks(issued.credentials, stdout=ran[0][0].stdout)

    # Failures: STS refuses, with --debug (tracebacks and all) and through the doctor.
    policy = tmp_path / "trust.json"
    policy.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": "accounts.google.com"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {"accounts.google.com:aud": "nobody"}},
                    }
                ],
            }
        )
    )
    for args in (
        ["credentials", *role, "--debug", "--no-cache"],
        ["env", *role, "--no-cache"],
        ["exec", *role, "--no-cache", "--", "true"],
        ["doctor", *role, "--no-cache", "--trust-policy", str(policy), "--debug", "--no-iam"],
        ["init", *role, "--yes", "--profile", "denied", "--no-cache", "--debug"],
    ):
        local_sts.inject(DENIED, times=20, action=ACTION)
        proc = _run(args, debug)
        local_sts.faults.clear()
        assert proc.returncode != 0, (args, proc.stdout)
        ran.append((proc, "nothing"))

    # Only now are all issued secrets known: scan every stream for every one of them.
    for proc, may in ran:
        _assert_clean(issued, proc, stdout_may=may)


def test_serve_access_log_and_output_carry_no_secret(env: Env, issued: Issued) -> None:
    from botocore.credentials import ContainerProvider
    from botocore.exceptions import CredentialRetrievalError

    proc = subprocess.Popen(
        [gcp2aws_exe(), "serve", "--role-arn", ROLE_ARN, "--format", "dotenv", "--debug"],
        env=env.values,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    variables = dict(proc.stdout.readline().strip().partition("=")[::2] for _ in range(2))
    try:
        environ = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": variables["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong" + "0" * 59,
        }
        with pytest.raises(CredentialRetrievalError):
            ContainerProvider(environ=environ).load().get_frozen_credentials()
        environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = variables[
            "AWS_CONTAINER_AUTHORIZATION_TOKEN"
        ]
        creds = ContainerProvider(environ=environ).load().get_frozen_credentials()
        assert creds.secret_key in issued.credentials
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert '"status": 403' in err
    assert '"status": 200' in err
    auth = variables["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert leaks([*issued.everything, auth], stderr=err) == []
    assert leaks(issued.everything, stdout=out) == []
