"""LocalSts: moto behind the counting proxy, driven by real botocore, and STS faults."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from gcp2aws.emulator.faults import Status, StsError
from gcp2aws.emulator.local_sts import LocalSts, sts_error_body
from gcp2aws.errors import ConfigError
from tests.support.emulator import shared_signer

ROLE = "arn:aws:iam::210987654321:role/gcp2aws-demo"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
NO_RETRY = {"total_max_attempts": 1, "mode": "standard"}


@pytest.fixture(scope="module")
def sts_server() -> Iterator[LocalSts]:
    with LocalSts() as sts:
        yield sts


@pytest.fixture
def sts(sts_server: LocalSts) -> LocalSts:
    sts_server.reset_calls()
    sts_server.faults.clear()
    return sts_server


def client(sts: LocalSts, **kwargs: Any) -> Any:
    session = botocore.session.get_session()
    return session.create_client("sts", region_name="us-east-1", endpoint_url=sts.url, **kwargs)


def unsigned(sts: LocalSts, retries: dict[str, Any] | None = None) -> Any:
    config = Config(signature_version=UNSIGNED, retries=retries or NO_RETRY)  # type: ignore[arg-type]
    return client(sts, config=config)


def assume(sts: LocalSts, session_name: str = "gce-demo-vm") -> dict[str, Any]:
    result: dict[str, Any] = unsigned(sts).assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName=session_name, WebIdentityToken=TOKEN, DurationSeconds=900
    )
    return result


def test_unsigned_assume_then_get_caller_identity(sts: LocalSts) -> None:
    result = assume(sts)
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert result["AssumedRoleUser"]["Arn"] == (
        "arn:aws:sts::210987654321:assumed-role/gcp2aws-demo/gce-demo-vm"
    )
    identity = client(
        sts,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::210987654321:assumed-role/gcp2aws-demo/gce-demo-vm"
    assert identity["Account"] == "210987654321"
    assert sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert sts.calls["GetCallerIdentity"] == 1
    assert sts.assume_calls == 1


def test_sts_error_fault_parses_as_a_client_error(sts: LocalSts) -> None:
    sts.inject(StsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"))
    with pytest.raises(ClientError) as info:
        assume(sts)
    error: dict[str, Any] = dict(info.value.response["Error"])
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert error["Type"] == "Sender"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assume(sts)  # the fault was used up
    assert sts.assume_calls == 2


def test_faults_match_the_action_only(sts: LocalSts) -> None:
    sts.inject(StsError("InvalidIdentityToken", "bad"), action="AssumeRoleWithWebIdentity")
    creds_client = client(sts, aws_access_key_id="AKIAX", aws_secret_access_key="s")
    assert creds_client.get_caller_identity()["Account"]
    with pytest.raises(ClientError, match="InvalidIdentityToken"):
        assume(sts)


def test_botocore_retries_through_transient_faults(sts: LocalSts) -> None:
    sts.inject(StsError("IDPCommunicationError", "try again"), times=1)
    sts.inject(Status(503), times=1)
    retrying = unsigned(sts, retries={"total_max_attempts": 4, "mode": "standard"})
    result = retrying.assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="retry", WebIdentityToken=TOKEN
    )
    assert result["Credentials"]["SessionToken"]
    assert sts.assume_calls == 3


def test_error_body_shape() -> None:
    body = sts_error_body("ExpiredTokenException", "Token <expired>").decode()
    assert body.startswith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')
    assert "<Code>ExpiredTokenException</Code>" in body
    assert "<Message>Token &lt;expired&gt;</Message>" in body
    assert "<RequestId>" in body


def test_missing_moto_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)
    with pytest.raises(ConfigError) as info:
        LocalSts().start()
    assert "gcp2aws[demo]" in info.value.hint


def test_last_token_claims_are_recorded(sts: LocalSts) -> None:
    token = shared_signer().sign({"aud": "x", "sub": "1"})
    unsigned(sts).assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="claims", WebIdentityToken=token
    )
    assert sts.last_token_claims == {"aud": "x", "sub": "1"}


def test_verifying_sts_checks_signature_issuer_and_expiry() -> None:
    signer = shared_signer()
    now = 1_800_000_000
    good = {"iss": "https://accounts.google.com", "aud": "a", "iat": now, "exp": now + 3600}
    cases = [
        (signer.sign(good), None),
        (signer.sign({**good, "exp": now - 1}), "ExpiredTokenException"),
        (signer.sign({**good, "iss": "https://evil.example"}), "InvalidIdentityToken"),
        (TOKEN, "InvalidIdentityToken"),
    ]
    with LocalSts(verify_with=signer, clock=lambda: now) as sts:
        for token, code in cases:
            call = unsigned(sts).assume_role_with_web_identity
            if code is None:
                assert call(RoleArn=ROLE, RoleSessionName="ok", WebIdentityToken=token)
                continue
            with pytest.raises(ClientError) as info:
                call(RoleArn=ROLE, RoleSessionName="bad", WebIdentityToken=token)
            assert info.value.response["Error"]["Code"] == code
        assert sts.assume_calls == 4
