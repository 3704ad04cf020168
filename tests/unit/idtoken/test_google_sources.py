"""Service-account key, impersonation and impersonated-ADC sources against the local Google
OAuth token endpoint, IAM Credentials API and metadata server (google-auth itself is not mocked:
only its endpoints are pointed at loopback)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gcp2aws.emulator.faults import Body, Drip, Status
from gcp2aws.emulator.google_apis import GoogleApisEmulator
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.emulator.signer import make_service_account_key
from gcp2aws.errors import (
    ConfigError,
    ExitCode,
    Gcp2AwsError,
    NoTokenSourceError,
    TokenUnavailableError,
)
from gcp2aws.idtoken import adc_impersonated, chain, service_account
from gcp2aws.idtoken.base import TokenSource
from gcp2aws.idtoken.impersonate import ImpersonateSource
from gcp2aws.retry import Deadline
from gcp2aws.settings import load
from tests.support.google import TARGET, USER, write_json

AUD = "sts.amazonaws.com"
SA = "runner@demo-project.iam.gserviceaccount.com"


def base_env(tmp_path: Path, apis: GoogleApisEmulator, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "GCE_METADATA_IP": "127.0.0.1:9",
        "GCP2AWS_IAM_CREDENTIALS_ENDPOINT": apis.iam_endpoint,
        "GCP2AWS_OAUTH_TOKEN_URI": apis.token_uri,
        **extra,
    }


def user_file(tmp_path: Path, apis: GoogleApisEmulator) -> str:
    return write_json(tmp_path / "adc.json", apis.add_authorized_user(USER))


# -- service-account key -------------------------------------------------------------------


def test_service_account_key_token_has_email_as_azp(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    key = google_apis.create_service_account_key(SA)
    path = write_json(tmp_path / "key.json", key)
    env = base_env(tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=path)
    source = chain.select(load({}, env), env)
    assert source.name == "service-account-key"
    token = source.fetch(AUD, Deadline(10))
    assert token.azp == SA  # key-file tokens carry the email, not the numeric ID
    assert token.aud == AUD
    assert google_apis.signer.verify(token.raw)["email"] == SA
    assert google_apis.token_calls == 1


def test_service_account_key_unknown_to_google(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    # A key Google never saw (deleted key): invalid_grant, explained.
    key = make_service_account_key(SA, project_id="p", token_uri=google_apis.token_uri)
    path = write_json(tmp_path / "key.json", key)
    source = service_account.from_file(path, base_env(tmp_path, google_apis))
    with pytest.raises(TokenUnavailableError) as err:
        source.fetch(AUD, Deadline(10))
    line = err.value.one_line()
    assert line.startswith("service-account-key: ")
    assert "invalid_grant" in line
    assert "create a new key" in line
    assert key["private_key"][40:80] not in line


def test_forced_service_account_key_with_user_file(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    env = base_env(tmp_path, google_apis)
    cli = {
        "token_source": "service-account-key",
        "credentials_file": user_file(tmp_path, google_apis),
    }
    with pytest.raises(ConfigError) as err:
        chain.select(load(cli, env), env)
    line = err.value.one_line()
    assert "of type authorized_user, not service_account" in line
    assert "--impersonate-service-account" in line


# -- impersonate ---------------------------------------------------------------------------


def test_impersonate_from_user_adc(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    google_apis.grant_token_creator(f"user:{USER}", TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    assert source.name == "impersonate"
    token = source.fetch(AUD, Deadline(10))
    assert token.email == TARGET  # includeEmail
    assert token.azp == token.sub
    assert token.azp.isdigit()  # generateIdToken: azp is the numeric unique ID
    assert google_apis.id_token_calls == 1


def test_impersonate_from_gcloud_well_known_file(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    user_path = user_file(tmp_path, google_apis)
    (gcloud / "application_default_credentials.json").write_text(Path(user_path).read_text())
    google_apis.grant_token_creator(USER, TARGET)
    env = base_env(tmp_path, google_apis, CLOUDSDK_CONFIG=str(gcloud))
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    assert source.fetch(AUD, Deadline(10)).email == TARGET


def test_impersonate_with_delegates(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    middle = "middle@demo-project.iam.gserviceaccount.com"
    google_apis.add_service_account_identity(middle)
    google_apis.grant_token_creator(USER, middle)
    google_apis.grant_token_creator(middle, TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    settings = load({"impersonate_service_account": TARGET, "delegates": middle}, env)
    token = chain.select(settings, env).fetch(AUD, Deadline(10))
    assert token.email == TARGET
    # Without the delegate hop the user may not mint for TARGET directly.
    direct = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    with pytest.raises(TokenUnavailableError, match="getOpenIdToken missing on SA"):
        direct.fetch(AUD, Deadline(10))


def test_impersonate_missing_permission_is_403_explained(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    key = google_apis.create_service_account_key(SA)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=write_json(tmp_path / "k.json", key)
    )
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    with pytest.raises(TokenUnavailableError) as err:
        source.fetch(AUD, Deadline(10))
    line = err.value.one_line()
    assert line.startswith(
        f"impersonate: permission iam.serviceAccounts.getOpenIdToken missing on SA {TARGET}"
    )
    assert (
        "roles/iam.serviceAccountOpenIdTokenCreator (or roles/iam.serviceAccountTokenCreator) "
        f"to {SA} on {TARGET}" in line
    )
    assert "\n" not in line


def test_impersonate_retries_a_503(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    google_apis.grant_token_creator(USER, TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    google_apis.inject(Status(503), times=1, path_prefix="/v1/")
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    assert source.fetch(AUD, Deadline(10)).email == TARGET
    assert google_apis.id_token_calls == 2


def test_impersonate_revoked_refresh_token(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    adc = google_apis.add_authorized_user(USER)
    adc["refresh_token"] = "1//revoked"
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=write_json(tmp_path / "a.json", adc)
    )
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    with pytest.raises(TokenUnavailableError) as err:
        source.fetch(AUD, Deadline(10))
    line = err.value.one_line()
    assert line.startswith("impersonate: access token from authorized_user credentials")
    assert "gcloud auth application-default login" in line
    assert "1//revoked" not in line


def test_impersonate_from_the_vm_identity(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    with MetadataEmulator(access_token_issuer=google_apis.issue_access_token) as md:
        google_apis.add_service_account_identity(md.email)
        google_apis.grant_token_creator(f"serviceAccount:{md.email}", TARGET)
        env = base_env(
            tmp_path, google_apis, GCE_METADATA_HOST=md.address, GCE_METADATA_IP=md.address
        )
        source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
        assert isinstance(source, ImpersonateSource)
        token = source.fetch(AUD, Deadline(10))
        assert "metadata server" in source.describe()
        assert md.calls["instance/service-accounts/default/token"] == 1
    assert token.email == TARGET


def test_impersonate_with_nothing_to_impersonate_with(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    env = base_env(tmp_path, google_apis)
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    with pytest.raises(NoTokenSourceError) as err:
        source.fetch(AUD, Deadline(10))
    assert "gcloud auth application-default login" in err.value.one_line()


def test_impersonate_unreachable_iam(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    google_apis.grant_token_creator(USER, TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    env["GCP2AWS_IAM_CREDENTIALS_ENDPOINT"] = "http://127.0.0.1:9"
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    with pytest.raises(TokenUnavailableError, match="cannot reach IAM Credentials") as err:
        source.fetch(AUD, Deadline(5))
    assert err.value.transient


# -- adc-impersonated ----------------------------------------------------------------------


def impersonated_file(tmp_path: Path, apis: GoogleApisEmulator, delegates: list[str]) -> str:
    doc = {
        "type": "impersonated_service_account",
        "service_account_impersonation_url": f"{apis.iam_endpoint}/v1/projects/-/serviceAccounts/"
        f"{TARGET}:generateAccessToken",
        "source_credentials": apis.add_authorized_user(USER),
        "delegates": delegates,
    }
    return write_json(tmp_path / "impersonated.json", doc)


def test_adc_impersonated(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    google_apis.grant_token_creator(USER, TARGET)
    path = impersonated_file(tmp_path, google_apis, [])
    env = base_env(tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=path)
    del env["GCP2AWS_IAM_CREDENTIALS_ENDPOINT"]  # the file's URL says where to go
    source = chain.select(load({}, env), env)
    assert source.name == "adc-impersonated"
    assert source.fetch(AUD, Deadline(10)).email == TARGET


def test_adc_impersonated_with_delegates(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    middle = "middle@demo-project.iam.gserviceaccount.com"
    google_apis.add_service_account_identity(middle)
    google_apis.grant_token_creator(USER, middle)
    google_apis.grant_token_creator(middle, TARGET)
    path = impersonated_file(tmp_path, google_apis, [f"projects/-/serviceAccounts/{middle}"])
    env = base_env(tmp_path, google_apis)
    source = chain.select(
        load({"token_source": "adc-impersonated", "credentials_file": path}, env), env
    )
    assert source.fetch(AUD, Deadline(10)).email == TARGET


def test_adc_impersonated_malformed(tmp_path: Path, google_apis: GoogleApisEmulator) -> None:
    path = write_json(tmp_path / "bad.json", {"type": "impersonated_service_account"})
    with pytest.raises(ConfigError, match="lacks service_account_impersonation_url"):
        adc_impersonated.from_file(path, {})


def test_impersonate_reuses_a_valid_access_token(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    google_apis.grant_token_creator(USER, TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    source = chain.select(load({"impersonate_service_account": TARGET}, env), env)
    source.fetch(AUD, Deadline(10))
    source.fetch("another-audience", Deadline(10))
    assert google_apis.token_calls == 1  # one refresh-token grant, two ID tokens
    assert google_apis.id_token_calls == 2


def _impersonating(tmp_path: Path, google_apis: GoogleApisEmulator) -> TokenSource:
    """The impersonate source for USER -> TARGET, against the emulator."""
    google_apis.grant_token_creator(USER, TARGET)
    env = base_env(
        tmp_path, google_apis, GOOGLE_APPLICATION_CREDENTIALS=user_file(tmp_path, google_apis)
    )
    return chain.select(load({"impersonate_service_account": TARGET}, env), env)


def test_a_google_endpoint_dripping_its_headers_stops_at_the_deadline(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    """urllib3's timeouts restart on every byte; the deadline is enforced from outside."""
    source = _impersonating(tmp_path, google_apis)
    google_apis.inject(Drip(b"x" * 2000, 0.1, headers=True), times=100, path_prefix="/v1/")
    started = time.monotonic()
    with pytest.raises(Gcp2AwsError) as err:
        source.fetch(AUD, Deadline(2))
    assert err.value.exit_code == ExitCode.TIMEOUT
    assert time.monotonic() - started < 4  # not the 200 s the drip would take


def test_a_google_answer_over_1_mib_is_refused(
    tmp_path: Path, google_apis: GoogleApisEmulator
) -> None:
    source = _impersonating(tmp_path, google_apis)
    google_apis.inject(Body(200, b"{" * (2 << 20)), times=100, path_prefix="/v1/")
    with pytest.raises(TokenUnavailableError, match="answered with more than 1,048,576 bytes"):
        source.fetch(AUD, Deadline(10))
