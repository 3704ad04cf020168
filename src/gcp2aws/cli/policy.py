"""``gcp2aws policy``: print the IAM trust policy for the identity in use, in four formats."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gcp2aws.cli.common import SOURCE_OPTIONS, add_options, load_settings, write_stdout

DESCRIPTION = """\
Fetch a real ID token from the token source in use and print the trust policy that
lets exactly that identity assume a role: Principal accounts.google.com,
accounts.google.com:aud = the token's azp (the service account's unique ID on Google
Cloud, its email with a key file) and accounts.google.com:oaud = the audience.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "policy",
        help="print the IAM trust policy for this identity",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, SOURCE_OPTIONS)
    parser.add_argument(
        "--format",
        choices=("json", "terraform", "cloudformation", "aws-cli"),
        default="json",
        help="output format (default: json)",
    )
    parser.add_argument(
        "--role-session-name",
        dest="session_pattern",
        metavar="PATTERN",
        help="also require sts:RoleSessionName StringLike PATTERN (wildcards * and ?)",
    )
    parser.add_argument(
        "--role-name", default="gcp2aws", help="role name for terraform/cloudformation/aws-cli"
    )
    chain = parser.add_argument_group(
        "chained hops (--chain-role-arn)",
        "With --for-chain: the trust policy of each hop's role, trusting the hop before it "
        "(--role-arn is the first). Needs no token source.",
    )
    chain.add_argument("--for-chain", action="store_true", help="print the hops' trust policies")
    add_options(chain, ("role_arn", "chain_role_arns", "chain_external_id"))
    k8s = parser.add_argument_group(
        "projected Kubernetes token (gcp2aws.io/mode: projected)",
        "Instead of a Google identity: the cluster's IAM OIDC provider and a role that trusts "
        "one ServiceAccount's projected token. Needs no token source.",
    )
    k8s.add_argument("--kubernetes-issuer", metavar="URL", help="the cluster's OIDC issuer")
    k8s.add_argument("--namespace", metavar="NS", help="the ServiceAccount's namespace")
    k8s.add_argument("--service-account", metavar="KSA", help="the ServiceAccount's name")
    k8s.add_argument("--account-id", metavar="ID", help="the AWS account of the role")
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.policy import generate as policygen

    if ns.kubernetes_issuer or ns.namespace or ns.service_account or ns.account_id:
        return _run_kubernetes(ns)
    if ns.for_chain:
        return _run_chain(ns, environ)
    from gcp2aws.provider import CredentialProvider
    from gcp2aws.retry import Deadline

    settings = load_settings(ns, environ)
    token = CredentialProvider(settings, environ=environ).fetch_token(Deadline(settings.timeout))
    policy = policygen.trust_policy(
        token, audience=settings.audience, session_name_pattern=ns.session_pattern
    )
    write_stdout(policygen.render(policy, ns.format, role_name=ns.role_name))
    return 0


def _run_kubernetes(ns: argparse.Namespace) -> int:
    from gcp2aws import validation
    from gcp2aws.errors import UsageError
    from gcp2aws.policy import generate as policygen
    from gcp2aws.settings import DEFAULT_AUDIENCE

    flags = {
        "--kubernetes-issuer": ns.kubernetes_issuer,
        "--namespace": ns.namespace,
        "--service-account": ns.service_account,
        "--account-id": ns.account_id,
    }
    missing = [flag for flag, value in flags.items() if not value]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} missing: a projected-token trust policy needs all of "
            + ", ".join(flags),
            hint="e.g. --kubernetes-issuer https://container.googleapis.com/v1/projects/P/"
            "locations/L/clusters/C --namespace shop --service-account app --account-id ID",
        )
    audience = validation.audience(ns.audience or DEFAULT_AUDIENCE)
    policy = policygen.kubernetes_trust_policy(
        ns.kubernetes_issuer,
        namespace=ns.namespace,
        service_account=ns.service_account,
        account_id=ns.account_id,
        audience=audience,
    )
    write_stdout(
        policygen.render_with_provider(
            policy,
            ns.format,
            issuer=ns.kubernetes_issuer.rstrip("/"),
            audience=audience,
            role_name=ns.role_name,
            description="Assumed with a projected Kubernetes service-account token",
        )
    )
    return 0


def _run_chain(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    import itertools
    import json

    from gcp2aws.errors import UsageError
    from gcp2aws.policy import generate as policygen

    settings = load_settings(ns, environ)
    first = settings.require_role_arn()
    if not settings.chain_role_arns:
        raise UsageError(
            "--for-chain needs the hops",
            hint="Pass --chain-role-arn ARN once per hop (or set GCP2AWS_CHAIN_ROLE_ARNS)",
        )
    roles = (first, *settings.chain_role_arns)
    hops = [
        (arn, policygen.chain_trust_policy(previous, external_id=settings.chain_external_id))
        for previous, arn in itertools.pairwise(roles)
    ]
    if ns.format == "json":
        if len(hops) == 1:
            write_stdout(json.dumps(hops[0][1], indent=2) + "\n")
        else:
            documents = [{"RoleArn": arn, "AssumeRolePolicyDocument": doc} for arn, doc in hops]
            write_stdout(json.dumps(documents, indent=2) + "\n")
        return 0
    parts = []
    for arn, doc in hops:
        account, name = arn.split(":")[4], arn.rsplit("/", 1)[1]
        text = policygen.render(
            doc, ns.format, role_name=name, description="Assumed by the previous hop of a chain"
        )
        lead = "---\n" if ns.format == "cloudformation" else ""
        parts.append(f"{lead}# {arn}: create it in account {account}\n{text}")
    write_stdout("\n".join(parts))
    return 0
