"""Unit tests for gcp2aws.sts: region/endpoint resolution offline, and the exchange against a
local STS (moto behind a fault-injecting proxy)."""

from __future__ import annotations

import socket
import sys
import time
from datetime import timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from gcp2aws import sts
from gcp2aws.emulator.faults import Body, StsError
from gcp2aws.emulator.signer import Signer
from gcp2aws.errors import ExitCode, StsDeniedError
from gcp2aws.errors import StsError as StsFailure
from gcp2aws.idtoken.jwt import decode_unverified
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline
from tests.support.cli import ROLE_ARN

CN_ROLE = "arn:aws-cn:iam::123456789012:role/r"
GOV_ROLE = "arn:aws-us-gov:iam::123456789012:role/r"
AZP = "104912345678901234567"
ACTION = "AssumeRoleWithWebIdentity"


def make_token(**extra: object) -> IdToken:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": "sts.amazonaws.com",
        "azp": AZP,
        "sub": AZP,
        "email": "sa@proj.iam.gserviceaccount.com",
        "iat": now,
        "exp": now + 3600,
        **extra,
    }
    return decode_unverified(Signer().sign(claims), source="test")


def write_config(home: Path, text: str) -> Path:
    path = home / ".aws" / "config"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


# -- region and endpoint, no network ------------------------------------------------------------
def test_region_default_per_partition() -> None:
    session = sts.new_session()
    assert sts.resolve_region(ROLE_ARN, None, session) == "us-east-1"
    assert sts.resolve_region(CN_ROLE, None, session) == "cn-north-1"
    assert sts.resolve_region(GOV_ROLE, None, session) == "us-gov-west-1"


def test_region_explicit_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert sts.resolve_region(CN_ROLE, "cn-northwest-1", sts.new_session()) == "cn-northwest-1"


@pytest.mark.parametrize("name", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_region_from_environment(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "eu-central-1")
    assert sts.resolve_region(CN_ROLE, None, sts.new_session()) == "eu-central-1"


def test_aws_region_beats_aws_default_region_and_profile(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_env, "[default]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    assert sts.resolve_region(ROLE_ARN, None, sts.new_session()) == "eu-west-2"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert sts.resolve_region(ROLE_ARN, None, sts.new_session()) == "eu-north-1"
    # An explicit environment mapping is used instead of os.environ.
    assert sts.resolve_region(ROLE_ARN, None, sts.new_session(), {}) == "eu-west-2"


def test_region_from_profile(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        isolated_env,
        "[default]\nregion = ap-south-1\n\n[profile other]\nregion = sa-east-1\n",
    )
    assert sts.resolve_region(ROLE_ARN, None, sts.new_session()) == "ap-south-1"
    monkeypatch.setenv("AWS_PROFILE", "other")
    assert sts.resolve_region(ROLE_ARN, None, sts.new_session()) == "sa-east-1"


@pytest.mark.parametrize(
    ("role", "endpoint"),
    [
        (ROLE_ARN, "https://sts.us-east-1.amazonaws.com"),
        (CN_ROLE, "https://sts.cn-north-1.amazonaws.com.cn"),
        (GOV_ROLE, "https://sts.us-gov-west-1.amazonaws.com"),
    ],
)
def test_client_endpoint_per_partition(role: str, endpoint: str) -> None:
    session = sts.new_session()
    region = sts.resolve_region(role, None, session)
    client = sts.make_client(region, Deadline(30), session)
    assert client.meta.region_name == region
    assert client.meta.endpoint_url == endpoint


def test_client_honours_endpoint_url_sts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566")
    client = sts.make_client("us-east-1", Deadline(30), sts.new_session())
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"


def test_client_is_unsigned_and_fits_the_budget() -> None:
    from botocore import UNSIGNED

    for budget, attempts in ((30, sts.BOTOCORE_ATTEMPTS), (6, 2), (3, 1)):
        client = sts.make_client("us-east-1", Deadline(budget), sts.new_session())
        config = client.meta.config
        assert config.signature_version is UNSIGNED
        # Fewer attempts for a short budget; together they never outlast it.
        assert config.retries["total_max_attempts"] == attempts
        assert config.read_timeout * attempts <= budget
        assert "gcp2aws/" in config.user_agent_extra


# -- the exchange against the local STS ---------------------------------------------------------
@pytest.fixture
def sts_env(local_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_sts.url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return local_sts


def exchange(token: IdToken | None = None, **kwargs: Any) -> Any:
    params: dict[str, Any] = {
        "token": token or make_token(),
        "role_arn": ROLE_ARN,
        "session_name": "my-session",
        "duration_seconds": 3600,
        "deadline": Deadline(10),
    }
    params.update(kwargs)
    return sts.assume_role_with_web_identity(**params)


def test_exchange_takes_aws_region_from_the_given_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stop(ValueError):
        """Raised before anything leaves the machine."""

    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the process's: must not be read
    session = botocore.session.Session()
    urls: list[str] = []

    def record(**kwargs: Any) -> None:
        urls.append(kwargs["request"].url)
        raise Stop

    session.register("before-send.sts", record)
    with pytest.raises(StsFailure):
        exchange(session=session, environ={"AWS_REGION": "eu-west-3"})
    assert urls == ["https://sts.eu-west-3.amazonaws.com/"]


def test_exchange_success(sts_env: Any) -> None:
    before = time.time()
    creds = exchange(
        session_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
        '"Resource":"*"}]}',
        policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
    )
    assert (
        creds.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/my-session"
    )
    assert creds.account_id == "123456789012"
    assert creds.access_key_id.startswith("ASIA")
    assert creds.secret_access_key
    assert creds.session_token
    assert creds.expiration.tzinfo == timezone.utc
    assert creds.remaining(before) > 3000
    assert creds.source == "test"
    assert sts_env.calls[ACTION] == 1


def test_exchange_is_unsigned_even_with_a_recursive_default_profile(
    sts_env: Any, isolated_env: Path, tmp_path: Path
) -> None:
    """A default profile whose credential_process is gcp2aws must never be consulted."""
    marker = tmp_path / "credential-process-ran"
    script = tmp_path / "recorder.py"
    script.write_text(f"import pathlib, sys\npathlib.Path({str(marker)!r}).touch()\nsys.exit(1)\n")
    write_config(isolated_env, f"[default]\ncredential_process = {sys.executable} {script}\n")
    session = sts.new_session()
    seen: list[dict[str, Any]] = []
    session.register("before-send.sts", lambda **kw: seen.append(dict(kw["request"].headers)))
    creds = exchange(session=session)
    assert creds.access_key_id
    assert not marker.exists()
    assert seen
    assert all("Authorization" not in headers for headers in seen)


@pytest.mark.parametrize("code", ["AccessDenied", "IDPRejectedClaim", "InvalidIdentityToken"])
def test_denied_names_the_trust_policy_keys(sts_env: Any, code: str) -> None:
    sts_env.inject(StsError(code, "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403))
    token = make_token(aud="my-audience")
    with pytest.raises(StsDeniedError) as info:
        exchange(token)
    err = info.value
    assert err.exit_code == ExitCode.AWS_DENIED
    assert err.code == code
    assert err.transient is False
    line = err.one_line()
    assert "Not authorized" in line
    assert ROLE_ARN in line
    for needle in (
        "accounts.google.com:aud",
        "accounts.google.com:oaud",
        f"azp ({AZP})",
        "aud (my-audience)",
        f"sub ({AZP})",
    ):
        assert needle in line, needle
    assert token.raw not in line
    assert sts_env.calls[ACTION] == 1  # denials are not retried


def test_verification_key_error_is_transient(sts_env: Any) -> None:
    sts_env.inject(
        StsError(
            "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"
        )
    )
    with pytest.raises(StsFailure) as info:
        exchange()
    assert not isinstance(info.value, StsDeniedError)
    assert info.value.transient is True


def test_expired_token_is_a_transient_denial(sts_env: Any) -> None:
    sts_env.inject(StsError("ExpiredTokenException", "Token is expired"))
    with pytest.raises(StsDeniedError) as info:
        exchange()
    assert info.value.transient is True
    assert "clock" in info.value.hint


@pytest.mark.parametrize(
    ("code", "status", "hint"),
    [
        ("RegionDisabledException", 403, "Activate STS in that region"),
        ("MalformedPolicyDocument", 400, "--session-policy"),
        ("ValidationError", 400, "MaxSessionDuration"),
    ],
)
def test_permanent_errors(sts_env: Any, code: str, status: int, hint: str) -> None:
    sts_env.inject(StsError(code, "nope", status))
    with pytest.raises(StsFailure) as info:
        exchange()
    err = info.value
    assert not isinstance(err, StsDeniedError)
    assert err.exit_code == ExitCode.AWS_ERROR
    assert (err.code, err.transient) == (code, False)
    assert hint in err.hint
    assert sts_env.calls[ACTION] == 1


def test_throttling_is_retried_by_botocore_then_transient(sts_env: Any) -> None:
    sts_env.inject(StsError("Throttling", "Rate exceeded"), times=10)
    with pytest.raises(StsFailure) as info:
        exchange()
    assert (info.value.code, info.value.transient) == ("Throttling", True)
    assert sts_env.calls[ACTION] == sts.BOTOCORE_ATTEMPTS


def test_idp_communication_error_is_transient(sts_env: Any) -> None:
    sts_env.inject(StsError("IDPCommunicationError", "try again"), times=10)
    with pytest.raises(StsFailure) as info:
        exchange()
    assert (info.value.code, info.value.transient) == ("IDPCommunicationError", True)


def test_throttled_once_then_success(sts_env: Any) -> None:
    sts_env.inject(StsError("Throttling", "Rate exceeded"))
    assert exchange().access_key_id
    assert sts_env.calls[ACTION] == 2


def test_malformed_reply(sts_env: Any) -> None:
    sts_env.inject(
        Body(200, b"<AssumeRoleWithWebIdentityResponse><oops", {"Content-Type": "text/xml"})
    )
    with pytest.raises(StsFailure, match="malformed response") as info:
        exchange()
    assert (info.value.code, info.value.transient) == ("Malformed", True)


def test_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{port}")
    with pytest.raises(StsFailure, match="cannot reach STS") as info:
        exchange(deadline=Deadline(3))
    assert (info.value.code, info.value.transient) == ("Connection", True)


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"Credentials": {"AccessKeyId": "a"}},
        {
            "Credentials": {
                "AccessKeyId": "a",
                "SecretAccessKey": "b",
                "SessionToken": "c",
                "Expiration": "not a datetime",
            }
        },
    ],
)
def test_credentials_from_malformed_response(response: dict[str, Any]) -> None:
    with pytest.raises(StsFailure, match="without usable credentials"):
        sts.credentials_from_response(response, source="t")


def test_credentials_from_response_naive_expiration_is_utc() -> None:
    from datetime import datetime

    response = {
        "Credentials": {
            "AccessKeyId": "a",
            "SecretAccessKey": "b",
            "SessionToken": "c",
            "Expiration": datetime(2030, 1, 1, 12, 0, 0),
        },
        "AssumedRoleUser": {"Arn": "arn:aws:sts::210987654321:assumed-role/r/s"},
    }
    creds = sts.credentials_from_response(response, source="t")
    assert creds.expiration.tzinfo == timezone.utc
    assert creds.expiration.hour == 12
    assert creds.account_id == "210987654321"


def test_botocore_session_is_reusable() -> None:
    assert isinstance(sts.new_session(), botocore.session.Session)


def _reply_expiring(expiration: str) -> Body:
    xml = (
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>ASIAEXPIREDEXAMPLE01</AccessKeyId>"
        "<SecretAccessKey>expired-secret-value</SecretAccessKey>"
        "<SessionToken>expired-session-token</SessionToken>"
        f"<Expiration>{expiration}</Expiration>"
        "</Credentials></AssumeRoleWithWebIdentityResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    )
    return Body(200, xml.encode(), {"Content-Type": "text/xml"})


@pytest.mark.parametrize("offset", [-3600, 0, 30])
def test_credentials_expired_or_about_to_are_refused(sts_env: Any, offset: int) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))
    sts_env.inject(_reply_expiring(stamp))
    with pytest.raises(StsFailure, match="expire") as info:
        exchange()
    err = info.value
    assert err.exit_code == ExitCode.AWS_ERROR
    assert err.code == "Expired"
    line = err.one_line()
    assert "expired-secret-value" not in line
    assert "expired-session-token" not in line


def test_credentials_past_the_margin_are_accepted(sts_env: Any) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
    sts_env.inject(_reply_expiring(stamp))
    assert exchange().access_key_id == "ASIAEXPIREDEXAMPLE01"


def test_sts_error_message_is_sanitized(sts_env: Any) -> None:
    jwt = make_token().raw
    # XML 1.0 cannot carry ESC, but it can carry C1 controls (CSI) and bidi overrides.
    sts_env.inject(StsError("AccessDenied", f"\x9b31m\u202epwned bad token {jwt}", 403))
    with pytest.raises(StsDeniedError) as info:
        exchange()
    line = info.value.one_line()
    assert "\x9b" not in line
    assert "\u202e" not in line
    assert jwt not in line
    assert "<redacted token>" in line
