"""boto3 consumes ``gcp2aws credentials`` through a credential_process profile, in-process, as an
application would, against the metadata emulator and a local STS."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROLE_ARN, gcp2aws_exe

pytestmark = pytest.mark.e2e

boto3 = pytest.importorskip("boto3")

ASSUMED = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"


@pytest.fixture
def profile(
    isolated_env: Path, metadata: Any, local_sts: Any, monkeypatch: pytest.MonkeyPatch
) -> str:
    # boto3 reads os.environ, and the credential_process child inherits it.
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.address)
    monkeypatch.setenv("GCE_METADATA_IP", metadata.address)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", local_sts.url)
    monkeypatch.delenv("AWS_REGION", raising=False)
    config = isolated_env / ".aws" / "config"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        "[profile gcp]\n"
        f"credential_process = {gcp2aws_exe()} credentials --role-arn {ROLE_ARN}\n"
        "region = us-east-1\n"
    )
    return "gcp"


def test_boto3_session_assumes_the_role(profile: str, local_sts: Any, metadata: Any) -> None:
    session = boto3.Session(profile_name=profile)
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == ASSUMED
    assert identity["Account"] == "123456789012"

    creds = session.get_credentials()
    assert creds.method == "custom-process"
    # botocore parsed our Expiration as an aware timestamp and will refresh before it.
    expiry = creds._expiry_time
    assert expiry.tzinfo is not None
    assert expiry.utcoffset() == timezone.utc.utcoffset(None)
    assert creds.refresh_needed() is False

    # A second application process (here: session) gets the cached credentials.
    again = boto3.Session(profile_name=profile).client("sts").get_caller_identity()
    assert again["Arn"] == ASSUMED
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert metadata.identity_calls == 1


def test_boto3_sees_a_clean_error(profile: str, local_sts: Any) -> None:
    from botocore.exceptions import CredentialRetrievalError

    from gcp2aws.emulator.faults import StsError

    local_sts.inject(StsError("RegionDisabledException", "STS is not activated", 403), times=5)
    session = boto3.Session(profile_name=profile)
    with pytest.raises(CredentialRetrievalError) as info:
        session.client("sts").get_caller_identity()
    text = str(info.value)
    assert "gcp2aws: error: STS RegionDisabledException" in text
    assert "Traceback" not in text
