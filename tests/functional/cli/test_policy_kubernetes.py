"""``gcp2aws policy --kubernetes-issuer``: the cluster's IAM OIDC provider and the role trusting
one ServiceAccount's projected token, in the four formats, each read back by its consumer, and
evaluated like AWS against tokens from the right and the wrong ServiceAccount."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint

from gcp2aws.policy.evaluate import RequestContext, evaluate
from tests.functional.cli.test_policy import moto_iam, run_aws
from tests.support.cli import assert_clean_failure, run_gcp2aws
from tests.support.terraform import parse_terraform

__all__ = ["moto_iam"]  # the module-scoped moto IAM fixture, shared

ISSUER = (
    "https://container.googleapis.com/v1/projects/my-project/locations/us-central1/clusters/prod"
)
HOST_PATH = ISSUER.removeprefix("https://")
ACCOUNT = "123456789012"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST_PATH}"
ARGS = [
    "--kubernetes-issuer",
    ISSUER,
    "--namespace",
    "shop",
    "--service-account",
    "app",
    "--account-id",
    ACCOUNT,
]


def policy(*args: str) -> str:
    done = run_gcp2aws(["policy", *ARGS, *args], dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def check_statement(doc: dict[str, Any], audience: str = "sts.amazonaws.com") -> None:
    (only,) = doc["Statement"]
    assert only["Principal"] == {"Federated": PROVIDER}
    assert only["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert only["Condition"] == {
        "StringEquals": {
            f"{HOST_PATH}:sub": "system:serviceaccount:shop:app",
            f"{HOST_PATH}:aud": audience,
        }
    }


def context(sub: str, aud: str = "sts.amazonaws.com") -> RequestContext:
    """What AWS knows about an AssumeRoleWithWebIdentity with a projected token."""
    return RequestContext(
        principal_federated=PROVIDER, keys={f"{HOST_PATH}:sub": [sub], f"{HOST_PATH}:aud": [aud]}
    )


def test_json_holds_the_provider_and_a_policy_that_admits_only_that_service_account() -> None:
    doc = json.loads(policy())
    assert doc["OpenIDConnectProvider"] == {"Url": ISSUER, "ClientIDList": ["sts.amazonaws.com"]}
    trust = doc["AssumeRolePolicyDocument"]
    check_statement(trust)
    assert evaluate(trust, context("system:serviceaccount:shop:app")).allowed
    for other in ("system:serviceaccount:shop:other", "system:serviceaccount:dev:app"):
        assert not evaluate(trust, context(other)).allowed
    assert not evaluate(trust, context("system:serviceaccount:shop:app", aud="other")).allowed


def test_the_audience_flag_sets_the_client_id_and_the_condition() -> None:
    doc = json.loads(policy("--audience", "my-audience"))
    assert doc["OpenIDConnectProvider"]["ClientIDList"] == ["my-audience"]
    check_statement(doc["AssumeRolePolicyDocument"], "my-audience")


def test_terraform_parses_and_creates_the_provider_first() -> None:
    text = policy("--format", "terraform", "--role-name", "shop-app")
    role, trust = parse_terraform(text)
    check_statement(trust)
    import hcl2

    resources = hcl2.loads(text)["resource"]
    (provider,) = [
        r['"aws_iam_openid_connect_provider"']
        for r in resources
        if '"aws_iam_openid_connect_provider"' in r
    ]
    (attributes,) = provider.values()
    assert attributes["url"] == f'"{ISSUER}"'
    assert attributes["client_id_list"] == ['"sts.amazonaws.com"']
    assert role["depends_on"] == ["${aws_iam_openid_connect_provider.shop-app_cluster}"]


def test_cloudformation_passes_cfn_lint() -> None:
    text = policy("--format", "cloudformation", "--role-name", "shop-app")
    assert [str(m) for m in lint(text)] == []
    resources = yaml.safe_load(text)["Resources"]
    assert resources["ClusterProvider"]["Properties"] == {
        "Url": ISSUER,
        "ClientIdList": ["sts.amazonaws.com"],
    }
    assert resources["Role"]["DependsOn"] == "ClusterProvider"
    check_statement(resources["Role"]["Properties"]["AssumeRolePolicyDocument"])


@pytest.mark.e2e
def test_aws_cli_lines_run_with_the_real_aws_cli(moto_iam: str, tmp_path: Path) -> None:
    text = policy("--format", "aws-cli", "--role-name", "k8s-shop-app")
    commands = [shlex.split(line) for line in text.splitlines() if not line.startswith("#")]
    provider, create, _update = commands
    assert provider[:3] == ["aws", "iam", "create-open-id-connect-provider"]
    arn = run_aws(provider, moto_iam, tmp_path)["OpenIDConnectProviderArn"]
    assert arn == PROVIDER
    run_aws(create, moto_iam, tmp_path)
    role = run_aws(["aws", "iam", "get-role", "--role-name", "k8s-shop-app"], moto_iam, tmp_path)[
        "Role"
    ]
    document = role["AssumeRolePolicyDocument"]
    check_statement(json.loads(document) if isinstance(document, str) else document)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--kubernetes-issuer", ISSUER], "--namespace, --service-account, --account-id missing"),
        ([*ARGS[:-1], "12345"], "invalid AWS account id"),
        (["--kubernetes-issuer", "http://insecure.example", *ARGS[2:]], "invalid issuer URL"),
        (["--kubernetes-issuer", ISSUER + "?x=1", *ARGS[2:]], "invalid issuer URL"),
        ([*ARGS[:2], "--namespace", "Shop", *ARGS[4:]], "invalid namespace"),
        ([*ARGS[:4], "--service-account", "a b", *ARGS[6:]], "invalid service account"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(args: list[str], fragment: str) -> None:
    done = run_gcp2aws(["policy", *args], dict(os.environ))
    assert_clean_failure(done, 2)
    assert fragment in done.stderr
