"""The Google APIs emulator driven by google-auth's real credential classes and raw HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import google.auth.transport.requests as tr
import pytest
from google.auth import exceptions, impersonated_credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from gcp2aws.emulator.faults import Status, Token
from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.emulator.signer import Signer, make_service_account_key
from gcp2aws.errors import ConfigError
from tests.support.emulator import request, shared_signer, verify_with_jwks

SA = "runner@demo-project.iam.gserviceaccount.com"
TARGET = "aws-access@demo-project.iam.gserviceaccount.com"
TARGET_ID = "112233445566778899001"
USER = "alice@example.com"


class Clock:
    """Frozen at the real time (google-auth stamps its assertions with the real clock)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def apis(clock: Clock) -> Iterator[GoogleApisEmulator]:
    with GoogleApisEmulator(signer=shared_signer(), clock=clock) as apis:
        apis.add_service_account_identity(TARGET, TARGET_ID)
        yield apis


def sa_key(apis: GoogleApisEmulator) -> dict[str, str]:
    key = make_service_account_key(
        SA, project_id="demo-project", token_uri=apis.token_uri, signer=shared_signer()
    )
    apis.add_service_account(key)
    return key


def user_creds(apis: GoogleApisEmulator) -> user_credentials.Credentials:
    adc = apis.add_authorized_user(USER)
    creds = user_credentials.Credentials(
        None,
        refresh_token=adc["refresh_token"],
        client_id=adc["client_id"],
        client_secret=adc["client_secret"],
        token_uri=adc["token_uri"],
    )
    creds.refresh(tr.Request())
    return creds


def generate_id_token(
    apis: GoogleApisEmulator, bearer: str | None, body: dict[str, Any], target: str = TARGET
) -> tuple[int, Any, Any]:
    headers = {"Content-Type": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    path = f"/v1/projects/-/serviceAccounts/{target}:generateIdToken"
    reply = request(
        apis.address, path, method="POST", headers=headers, body=json.dumps(body).encode()
    )
    return reply.status, reply.headers, json.loads(reply.body) if reply.body else None


# -- key files and the token endpoint ------------------------------------------------------


def test_service_account_key_has_googles_format() -> None:
    signer = shared_signer()
    key = make_service_account_key(SA, project_id="p", token_uri="http://x/token", signer=signer)
    assert set(key) == {
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
    }
    assert key["type"] == "service_account"
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert key["private_key_id"] == signer.kid
    assert len(key["client_id"]) == 21
    assert key["client_id"].isdigit()
    assert key["client_x509_cert_url"].endswith("runner%40demo-project.iam.gserviceaccount.com")


def test_service_account_id_token_via_google_auth(apis: GoogleApisEmulator, clock: Clock) -> None:
    key = sa_key(apis)
    creds = service_account.IDTokenCredentials.from_service_account_info(
        key, target_audience="https://aud.example"
    )
    creds.refresh(tr.Request())
    header, claims = verify_with_jwks(creds.token, apis.signer.jwks())
    assert header["kid"] == apis.signer.kid
    assert claims == {
        "iss": "https://accounts.google.com",
        "aud": "https://aud.example",
        "azp": SA,  # key-file tokens carry the email in azp
        "sub": key["client_id"],
        "email": SA,
        "email_verified": True,
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
    }
    assert apis.token_calls == 1


def test_service_account_access_token_via_google_auth(apis: GoogleApisEmulator) -> None:
    creds = service_account.Credentials.from_service_account_info(
        sa_key(apis), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(tr.Request())
    assert str(creds.token).startswith("ya29.")
    assert apis.principals.bearer(f"Bearer {creds.token}") == SA


def test_assertion_from_an_unknown_key_is_rejected(apis: GoogleApisEmulator) -> None:
    key = sa_key(apis)
    forged = make_service_account_key(SA, project_id="p", token_uri=apis.token_uri, signer=Signer())
    forged["private_key_id"] = key["private_key_id"]  # right kid, wrong key
    creds = service_account.IDTokenCredentials.from_service_account_info(
        forged, target_audience="a"
    )
    with pytest.raises(exceptions.RefreshError, match="Invalid JWT Signature"):
        creds.refresh(tr.Request())


def test_expired_assertion_is_rejected(apis: GoogleApisEmulator, clock: Clock) -> None:
    key = sa_key(apis)
    clock.now += 7200  # google-auth's assertion is two hours old by the emulator's clock
    creds = service_account.IDTokenCredentials.from_service_account_info(key, target_audience="a")
    with pytest.raises(exceptions.RefreshError, match="short-lived"):
        creds.refresh(tr.Request())


def test_bad_key_info_is_a_config_error(apis: GoogleApisEmulator) -> None:
    with pytest.raises(ConfigError):
        apis.add_service_account({"client_email": SA})


def test_authorized_user_refresh(apis: GoogleApisEmulator) -> None:
    adc = apis.add_authorized_user(USER, quota_project_id="demo-project")
    assert adc["type"] == "authorized_user"
    assert adc["token_uri"] == apis.token_uri
    assert adc["quota_project_id"] == "demo-project"
    creds = user_creds(apis)
    assert str(creds.token).startswith("ya29.")
    _, claims = verify_with_jwks(creds.id_token, apis.signer.jwks())
    assert claims["email"] == USER
    assert claims["aud"] == creds.client_id


def test_refresh_with_wrong_secret_or_token_fails(apis: GoogleApisEmulator) -> None:
    adc = apis.add_authorized_user(USER)
    for secret, refresh in (("wrong", adc["refresh_token"]), (adc["client_secret"], "1//bad")):
        creds = user_credentials.Credentials(
            None,
            refresh_token=refresh,
            client_id=adc["client_id"],
            client_secret=secret,
            token_uri=apis.token_uri,
        )
        with pytest.raises(exceptions.RefreshError):
            creds.refresh(tr.Request())


def test_unsupported_grant_type(apis: GoogleApisEmulator) -> None:
    reply = request(
        apis.address,
        "/token",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"grant_type=password",
    )
    assert reply.status == 400
    assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert json.loads(reply.body)["error"] == "unsupported_grant_type"


# -- IAM Credentials generateIdToken --------------------------------------------------------


def test_generate_id_token_without_permission_is_403(apis: GoogleApisEmulator) -> None:
    status, _, doc = generate_id_token(apis, user_creds(apis).token, {"audience": "a"})
    assert status == 403
    error = doc["error"]
    assert error["code"] == 403
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"] == (
        "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist)."
    )
    assert error["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    assert apis.id_token_calls == 1


@pytest.mark.parametrize("include_email", [True, False])
def test_generate_id_token_with_permission(
    apis: GoogleApisEmulator, clock: Clock, include_email: bool
) -> None:
    apis.grant_token_creator(f"user:{USER}", TARGET)
    body = {"audience": "https://aud.example", "includeEmail": include_email, "delegates": []}
    status, headers, doc = generate_id_token(apis, user_creds(apis).token, body)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    _, claims = verify_with_jwks(doc["token"], apis.signer.jwks())
    expected = {
        "iss": "https://accounts.google.com",
        "aud": "https://aud.example",
        "azp": TARGET_ID,  # generateIdToken puts the numeric ID in azp
        "sub": TARGET_ID,
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
    }
    if include_email:
        expected.update(email=TARGET, email_verified=True)
    assert claims == expected


def test_generate_id_token_from_a_service_account_source(apis: GoogleApisEmulator) -> None:
    source = service_account.Credentials.from_service_account_info(
        sa_key(apis), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    source.refresh(tr.Request())
    apis.grant_token_creator(f"serviceAccount:{SA}", TARGET)
    status, _, doc = generate_id_token(apis, source.token, {"audience": "a"})
    assert status == 200, doc
    apis.revoke_token_creator(SA, TARGET)
    assert generate_id_token(apis, source.token, {"audience": "a"})[0] == 403


def test_delegation_chain_needs_every_link(apis: GoogleApisEmulator) -> None:
    middle = "middle@demo-project.iam.gserviceaccount.com"
    apis.add_service_account_identity(middle)
    token = user_creds(apis).token
    body = {"audience": "a", "delegates": [f"projects/-/serviceAccounts/{middle}"]}
    apis.grant_token_creator(USER, middle)
    assert generate_id_token(apis, token, body)[0] == 403
    apis.grant_token_creator(middle, TARGET)
    assert generate_id_token(apis, token, body)[0] == 200
    # The chain does not let the user skip the delegate.
    assert generate_id_token(apis, token, {"audience": "a"})[0] == 403


def test_unknown_target_is_403(apis: GoogleApisEmulator) -> None:
    apis.grant_token_creator(USER, "ghost@demo-project.iam.gserviceaccount.com")
    status, _, _ = generate_id_token(
        apis,
        user_creds(apis).token,
        {"audience": "a"},
        "ghost@demo-project.iam.gserviceaccount.com",
    )
    assert status == 403


@pytest.mark.parametrize("bearer", [None, "ya29.made-up"])
def test_missing_or_unknown_bearer_is_401(apis: GoogleApisEmulator, bearer: str | None) -> None:
    apis.grant_token_creator(USER, TARGET)
    status, headers, doc = generate_id_token(apis, bearer, {"audience": "a"})
    assert status == 401
    assert doc["error"]["status"] == "UNAUTHENTICATED"
    assert "invalid_token" in headers["WWW-Authenticate"]


def test_expired_access_token_is_401(apis: GoogleApisEmulator, clock: Clock) -> None:
    apis.grant_token_creator(USER, TARGET)
    token = apis.issue_access_token(USER, lifetime=60)
    assert generate_id_token(apis, token, {"audience": "a"})[0] == 200
    clock.now += 61
    status, _, doc = generate_id_token(apis, token, {"audience": "a"})
    assert status == 401
    assert doc["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_missing_audience_is_400(apis: GoogleApisEmulator) -> None:
    apis.grant_token_creator(USER, TARGET)
    status, _, doc = generate_id_token(apis, apis.issue_access_token(USER), {"includeEmail": True})
    assert status == 400
    assert doc["error"]["status"] == "INVALID_ARGUMENT"


def test_faults_apply_to_iam_and_token_endpoints(apis: GoogleApisEmulator) -> None:
    apis.grant_token_creator(USER, TARGET)
    token = apis.issue_access_token(USER)
    apis.inject(Status(503), path_prefix="/v1/")
    apis.inject(Token({"aud": "wrong"}), path_prefix="/v1/")
    assert generate_id_token(apis, token, {"audience": "a"})[0] == 503
    _, _, doc = generate_id_token(apis, token, {"audience": "a"})
    assert verify_with_jwks(doc["token"], apis.signer.jwks())[1]["aud"] == "wrong"
    apis.inject(Status(500))
    assert request(apis.address, "/token", method="POST", body=b"").status == 500
    assert apis.id_token_calls == 2


def test_impersonated_access_token_with_endpoint_override(apis: GoogleApisEmulator) -> None:
    # google-auth's supported override for generateAccessToken (there is none for generateIdToken).
    apis.grant_token_creator(USER, TARGET)
    override = f"{apis.iam_endpoint}/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken"
    creds = impersonated_credentials.Credentials(
        user_creds(apis),
        TARGET,
        ["https://www.googleapis.com/auth/cloud-platform"],
        iam_endpoint_override=override,
    )
    creds.refresh(tr.Request())
    assert apis.principals.bearer(f"Bearer {creds.token}") == TARGET


def test_generate_id_token_url(apis: GoogleApisEmulator) -> None:
    assert apis.generate_id_token_url(TARGET) == (
        f"{apis.url}/v1/projects/-/serviceAccounts/{TARGET}:generateIdToken"
    )
    assert request(apis.address, "/nope").status == 404
