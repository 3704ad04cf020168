"""Read an IAM role's trust policy with iam:GetRole, for the doctor's local evaluation."""

from __future__ import annotations

import json
import os
from typing import Any

from gcp2aws import validation
from gcp2aws.awsconfig import profile as awsconfig
from gcp2aws.errors import ConfigError, Gcp2AwsError


def fetch_role_trust_policy(role_arn: str) -> tuple[Any, str]:
    """The role's trust policy via iam:GetRole with whatever AWS credentials botocore finds.

    Returns the document and where it came from.

    Raises:
        ConfigError: no credentials, or the call failed; ``fields["role_missing"]`` is True
            when the role does not exist (the ARN is wrong).
    """
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = botocore.session.Session()
    note = ""
    if _profile_runs_gcp2aws(session):
        # Those are the credentials being diagnosed: running them again only repeats the denial.
        session.get_component("credential_provider").remove("custom-process")
        note = " (the profile's credential_process is gcp2aws itself)"
    try:
        creds = session.get_credentials()
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"no AWS credentials to call iam:GetRole ({type(exc).__name__})") from exc
    if creds is None:
        raise ConfigError(
            f"no AWS credentials to call iam:GetRole{note}, and no --trust-policy given"
        )
    name = role_arn.rsplit("/", 1)[-1]
    region = validation.default_region(role_arn)
    config = Config(connect_timeout=5, read_timeout=10, retries={"total_max_attempts": 2})
    iam: Any = session.create_client("iam", region_name=region, config=config)
    who = f"iam:GetRole with {creds.method} credentials"
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchEntity":
            raise ConfigError(
                f"{who}: role {name!r} does not exist in that account; the role ARN "
                f"{role_arn} is wrong (check the account ID and the role name)",
                role_missing=True,
            ) from exc
        raise ConfigError(f"{who} failed: {code}") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"{who} failed: {type(exc).__name__}") from exc
    document = role.get("AssumeRolePolicyDocument")
    if isinstance(document, str):
        from urllib.parse import unquote

        document = json.loads(unquote(document))
    return document, f"trust policy of {name} ({who})"


def _profile_runs_gcp2aws(session: Any) -> bool:
    from botocore.exceptions import BotoCoreError

    try:
        line = session.get_scoped_config().get("credential_process") or ""
        argv = awsconfig.parse_credential_process(line)
    except (BotoCoreError, Gcp2AwsError):
        return False
    if not argv:
        return False
    return os.path.basename(argv[0]) == "gcp2aws" or argv[1:3] == ["-m", "gcp2aws"]
