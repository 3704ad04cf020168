"""The Python API: ``credentials`` and a refreshing ``boto3_session``, against the emulators."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime

import pytest

import gcp2aws
from gcp2aws import AwsCredentials, Gcp2AwsError, boto3_session, credentials
from gcp2aws.errors import UsageError
from tests.support.cli import ROLE_ARN, Env


@pytest.fixture
def live(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """Point this process (botocore reads os.environ) at the emulators."""
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_IP", "AWS_ENDPOINT_URL_STS", "AWS_REGION"):
        monkeypatch.setenv(name, env.values[name])
    return env


def test_public_names() -> None:
    assert sorted(gcp2aws.__all__) == sorted(
        ["credentials", "boto3_session", "AwsCredentials", "IdToken", "Gcp2AwsError", "__version__"]
    )
    for name in gcp2aws.__all__:
        assert getattr(gcp2aws, name) is not None
    with pytest.raises(AttributeError):
        gcp2aws.no_such_name  # noqa: B018


def test_import_stays_cheap() -> None:
    """The CLI's cache-hit path imports the package: the API must load lazily."""
    code = (
        "import sys, gcp2aws; "
        "print(sorted(m for m in ('botocore', 'dataclasses', 'typing', 'gcp2aws.api', "
        "'gcp2aws.models') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_py_typed_marker_ships() -> None:
    assert os.path.exists(os.path.join(os.path.dirname(gcp2aws.__file__), "py.typed"))


def test_credentials_returns_typed_credentials_and_uses_the_cache(
    live: Env, local_sts: object
) -> None:
    first = credentials(ROLE_ARN)
    assert isinstance(first, AwsCredentials)
    assert first.access_key_id.startswith("ASIA")
    assert isinstance(first.expiration, datetime)
    assert first.expiration.tzinfo is not None
    assert first.secret_access_key not in repr(first)
    second = credentials(ROLE_ARN)
    assert second.access_key_id == first.access_key_id
    assert local_sts.assume_calls == 1  # type: ignore[attr-defined]
    uncached = credentials(ROLE_ARN, use_cache=False)
    assert uncached.access_key_id != first.access_key_id
    assert local_sts.assume_calls == 2  # type: ignore[attr-defined]


def test_credentials_options_reach_sts(live: Env) -> None:
    creds = credentials(
        ROLE_ARN, duration_seconds=900, role_session_name="api-test", use_cache=False
    )
    left = creds.remaining(time.time())
    assert 800 < left <= 900


def test_role_from_environ_and_errors(live: Env) -> None:
    environ = {**os.environ, "GCP2AWS_ROLE_ARN": ROLE_ARN}
    assert credentials(environ=environ).access_key_id.startswith("ASIA")
    with pytest.raises(UsageError, match="no role ARN"):
        credentials()
    with pytest.raises(Gcp2AwsError):
        credentials("arn:aws:iam::bad")


def test_boto3_session_calls_sts_with_gcp2aws_credentials(live: Env) -> None:
    session = boto3_session(ROLE_ARN, region_name="us-east-1")
    assert session.region_name == "us-east-1"
    creds = session.get_credentials()
    assert creds is not None
    assert creds.method == "gcp2aws"
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/gcp2aws-test/" in arn


def test_boto3_session_ignores_other_credential_sources(
    live: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
    session = boto3_session(ROLE_ARN)
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.access_key != "AKIAENVIRONMENTKEY00"


def test_boto3_session_refreshes_across_a_rotation(live: Env, local_sts: object) -> None:
    """Real refresh: 900 s credentials with an 897 s window rotate every ~3 s."""
    session = boto3_session(ROLE_ARN, duration_seconds=900, refresh_window=897)
    client = session.client("sts", region_name="us-east-1")
    keys: list[str] = []
    deadline = time.monotonic() + 30
    while len(keys) < 3 and time.monotonic() < deadline:
        client.get_caller_identity()
        credentials = session.get_credentials()
        assert credentials is not None
        key = credentials.get_frozen_credentials().access_key
        assert key is not None
        if not keys or keys[-1] != key:
            keys.append(key)
        time.sleep(0.2)
    assert len(keys) >= 3, keys
    # botocore asked on every call (the credentials are inside its 15-minute window), yet the
    # shared cache kept STS at one exchange per credential set.
    assert local_sts.assume_calls in (len(keys), len(keys) + 1)  # type: ignore[attr-defined]


def test_an_unknown_keyword_is_a_type_error_as_in_any_signature() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'audiance'"):
        gcp2aws.credentials("arn:aws:iam::123456789012:role/r", audiance="x")  # type: ignore[call-arg]
