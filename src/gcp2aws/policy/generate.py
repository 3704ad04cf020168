"""Generate IAM trust policies for Google ID tokens; render them as JSON, Terraform, CFN, CLI."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gcp2aws import yamltext
from gcp2aws.errors import TokenInvalidError, UsageError

if TYPE_CHECKING:
    from gcp2aws.models import IdToken

GOOGLE_PROVIDER = "accounts.google.com"
ACTION = "sts:AssumeRoleWithWebIdentity"
POLICY_VERSION = "2012-10-17"
STATEMENT_SID = "AllowGoogleServiceAccount"
FORMATS = ("json", "terraform", "cloudformation", "aws-cli")
DEFAULT_DESCRIPTION = "Assumed with Google ID tokens through gcp2aws"
MAX_SESSION_DURATION = 3600

# IAM's own limits for role names and descriptions (CreateRole API reference).
_ROLE_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_DESCRIPTION_RE = re.compile(r"[\t\n\r\u0020-\u007e\u00a1-\u00ff]{0,1000}")
_HCL_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HCL_KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "endfor", "endif"})


def trust_policy(
    token: IdToken,
    *,
    audience: str | None = None,
    session_name_pattern: str | None = None,
) -> dict[str, Any]:
    """The trust policy that lets exactly this token's service account assume a role.

    ``accounts.google.com:aud`` is bound to the token's ``azp`` (AWS compares the key with
    ``azp`` when present: the numeric unique ID on GCE, the email with a key file) and
    ``accounts.google.com:oaud`` to the requested audience (``audience`` or the token's ``aud``).
    """
    aws_aud = token.aws_aud
    oaud = token.aud if audience is None else audience
    if not aws_aud:
        raise TokenInvalidError(
            "The ID token has neither an azp nor an aud claim, so AWS has nothing to compare "
            "accounts.google.com:aud with",
            hint="Use a Google-signed ID token from the metadata server, a key file or "
            "impersonation",
        )
    if not oaud:
        raise UsageError(
            "No audience to bind accounts.google.com:oaud to: the token has no aud claim",
            hint="Pass --audience",
        )
    conditions: dict[str, dict[str, str]] = {
        "StringEquals": {
            f"{GOOGLE_PROVIDER}:aud": aws_aud,
            f"{GOOGLE_PROVIDER}:oaud": oaud,
        }
    }
    if session_name_pattern:
        conditions["StringLike"] = {"sts:RoleSessionName": session_name_pattern}
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": STATEMENT_SID,
                "Effect": "Allow",
                "Principal": {"Federated": GOOGLE_PROVIDER},
                "Action": ACTION,
                "Condition": conditions,
            }
        ],
    }


CHAIN_SID = "AllowThePreviousHop"
ASSUME_ROLE = "sts:AssumeRole"


def chain_trust_policy(previous_role_arn: str, *, external_id: str | None = None) -> dict[str, Any]:
    """The trust policy of a chained hop's role: the previous hop's role may assume it (its
    sessions present ``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``, which IAM matches
    against the role's ARN), with ``sts:ExternalId`` when one is sent."""
    statement: dict[str, Any] = {
        "Sid": CHAIN_SID,
        "Effect": "Allow",
        "Principal": {"AWS": previous_role_arn},
        "Action": ASSUME_ROLE,
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": POLICY_VERSION, "Statement": [statement]}


KUBERNETES_SID = "AllowKubernetesServiceAccount"
_ISSUER_RE = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", re.ASCII)
_ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)


def issuer_host_path(issuer: str) -> str:
    """What IAM names an OIDC provider by, and prefixes its condition keys with: the issuer
    URL without ``https://`` and without a trailing slash."""
    if not _ISSUER_RE.fullmatch(issuer) or len(issuer) > 255:
        raise UsageError(
            f"invalid issuer URL {issuer[:100]!r}",
            hint="IAM OIDC providers need an https:// URL without query or fragment, e.g. "
            "https://container.googleapis.com/v1/projects/P/locations/L/clusters/C",
        )
    return issuer.removeprefix("https://").rstrip("/")


def kubernetes_trust_policy(
    issuer: str, *, namespace: str, service_account: str, account_id: str, audience: str
) -> dict[str, Any]:
    """The trust policy for a projected Kubernetes service-account token: the cluster's IAM
    OIDC provider as principal, ``ISSUER:sub`` = ``system:serviceaccount:NS:KSA`` and
    ``ISSUER:aud`` = the projected token's audience."""
    host_path = issuer_host_path(issuer)
    if not _DNS_LABEL_RE.fullmatch(namespace):
        raise UsageError(f"invalid namespace {namespace[:80]!r}", hint="Use the namespace's name")
    if not _DNS_SUBDOMAIN_RE.fullmatch(service_account):
        raise UsageError(
            f"invalid service account name {service_account[:80]!r}",
            hint="Use the Kubernetes ServiceAccount's name",
        )
    if not _ACCOUNT_RE.fullmatch(account_id):
        raise UsageError(
            f"invalid AWS account id {account_id[:40]!r}", hint="Pass the 12-digit account id"
        )
    provider = f"arn:aws:iam::{account_id}:oidc-provider/{host_path}"
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": KUBERNETES_SID,
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": ACTION,
                "Condition": {
                    "StringEquals": {
                        f"{host_path}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host_path}:aud": audience,
                    }
                },
            }
        ],
    }


def render_with_provider(
    policy: Mapping[str, Any],
    fmt: str,
    *,
    issuer: str,
    audience: str,
    role_name: str = "gcp2aws",
    description: str = DEFAULT_DESCRIPTION,
) -> str:
    """The IAM OIDC provider for ``issuer`` and the role trusting it, in one of FORMATS.

    IAM fetches the issuer's discovery document and JWKS itself when the provider is created,
    so no certificate thumbprint is given.
    """
    role = render(policy, fmt, role_name=role_name, description=description)
    if fmt == "json":
        import json

        document = {
            "OpenIDConnectProvider": {"Url": issuer, "ClientIDList": [audience]},
            "AssumeRolePolicyDocument": policy,
        }
        return json.dumps(document, indent=2) + "\n"
    if fmt == "terraform":
        label = _terraform_label(role_name)
        provider = (
            f'resource "aws_iam_openid_connect_provider" "{label}_cluster" {{\n'
            f"  url            = {_hcl_string(issuer)}\n"
            f"  client_id_list = [{_hcl_string(audience)}]\n"
            "}\n\n"
        )
        role = role.replace(
            "  assume_role_policy = ",
            f"  depends_on         = [aws_iam_openid_connect_provider.{label}_cluster]\n"
            "  assume_role_policy = ",
            1,
        )
        return provider + role
    if fmt == "cloudformation":
        head, _, rest = role.partition("Resources:\n")
        head = head.replace("for Google service accounts", "for a Kubernetes service account")
        resource = [
            "  ClusterProvider:",
            "    Type: AWS::IAM::OIDCProvider",
            "    Properties:",
            f"      Url: {yamltext.scalar(issuer)}",
            "      ClientIdList:",
            f"        - {yamltext.scalar(audience)}",
        ]
        rest = rest.replace(
            "    Type: AWS::IAM::Role\n",
            "    Type: AWS::IAM::Role\n    DependsOn: ClusterProvider\n",
            1,
        )
        return head + "Resources:\n" + "\n".join(resource) + "\n" + rest
    import shlex

    create = shlex.join(
        [
            "aws",
            "iam",
            "create-open-id-connect-provider",
            "--url",
            issuer,
            "--client-id-list",
            audience,
        ]
    )
    return (
        "# Create the cluster's OIDC provider (once per cluster and account):\n"
        + create
        + "\n"
        + role
    )


def render(
    policy: Mapping[str, Any],
    fmt: str,
    *,
    role_name: str = "gcp2aws",
    description: str = DEFAULT_DESCRIPTION,
) -> str:
    """Render a trust policy in one of :data:`FORMATS`; the text ends with a newline."""
    if not _ROLE_NAME_RE.fullmatch(role_name):
        raise UsageError(
            f"Invalid role name {role_name!r}",
            hint="IAM role names are 1-64 characters of letters, digits and +=,.@_-",
        )
    if not _DESCRIPTION_RE.fullmatch(description):
        raise UsageError(
            "Invalid role description",
            hint="IAM allows up to 1000 printable Latin-1 characters",
        )
    if fmt == "json":
        return _render_json(policy)
    if fmt == "terraform":
        return _render_terraform(policy, role_name, description)
    if fmt == "cloudformation":
        return _render_cloudformation(policy, role_name, description)
    if fmt == "aws-cli":
        return _render_aws_cli(policy, role_name, description)
    raise UsageError(f"Unknown policy format {fmt!r}", hint=f"Use one of: {', '.join(FORMATS)}")


def _render_json(policy: Mapping[str, Any]) -> str:
    import json

    return json.dumps(policy, indent=2) + "\n"


def _compact_json(policy: Mapping[str, Any]) -> str:
    import json

    return json.dumps(policy, separators=(",", ":"))


# --- Terraform ---------------------------------------------------------------------------------


def _hcl_string(value: str) -> str:
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    # A bare ${ or %{ would start a template interpolation/directive inside the string.
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def _hcl_key(key: str) -> str:
    if _HCL_IDENT_RE.fullmatch(key) and key not in _HCL_KEYWORDS:
        return key
    return _hcl_string(key)


def _hcl_value(value: Any, indent: int) -> str:
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, Mapping) and value:
        lines = [
            f"{inner}{_hcl_key(str(k))} = {_hcl_value(v, indent + 1)}" for k, v in value.items()
        ]
        return "{\n" + "\n".join(lines) + f"\n{pad}}}"
    if yamltext.is_container(value) and value:
        lines = [f"{inner}{_hcl_value(v, indent + 1)}," for v in value]
        return "[\n" + "\n".join(lines) + f"\n{pad}]"
    return _hcl_scalar(value)


def _hcl_scalar(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if yamltext.is_container(value):
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _hcl_string(value)
    raise UsageError(f"Cannot render a {type(value).__name__} in a policy document")


def _terraform_label(role_name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_-]", "_", role_name)
    return label if re.match(r"[A-Za-z_]", label) else f"role_{label}"


def _render_terraform(policy: Mapping[str, Any], role_name: str, description: str) -> str:
    label = _terraform_label(role_name)
    # jsonencode() of an HCL object keeps the policy exactly as generated; the
    # aws_iam_policy_document data source would reorder and re-type values.
    return (
        f'resource "aws_iam_role" "{label}" {{\n'
        f"  name                 = {_hcl_string(role_name)}\n"
        f"  description          = {_hcl_string(description)}\n"
        f"  max_session_duration = {MAX_SESSION_DURATION}\n"
        f"  assume_role_policy = jsonencode({_hcl_value(policy, 1)})\n"
        "}\n"
        "\n"
        f'output "{label}_role_arn" {{\n'
        f"  value = aws_iam_role.{label}.arn\n"
        "}\n"
    )


# --- CloudFormation ----------------------------------------------------------------------------


def _render_cloudformation(policy: Mapping[str, Any], role_name: str, description: str) -> str:
    head = [
        'AWSTemplateFormatVersion: "2010-09-09"',
        f"Description: {yamltext.scalar(f'IAM role {role_name} for Google service accounts')}",
        "Resources:",
        "  Role:",
        "    Type: AWS::IAM::Role",
        "    Properties:",
        f"      RoleName: {yamltext.scalar(role_name)}",
        f"      Description: {yamltext.scalar(description)}",
        f"      MaxSessionDuration: {MAX_SESSION_DURATION}",
        "      AssumeRolePolicyDocument:",
    ]
    tail = [
        "Outputs:",
        "  RoleArn:",
        "    Value:",
        "      Fn::GetAtt: [Role, Arn]",
    ]
    return "\n".join([*head, *yamltext.block(policy, 4), *tail]) + "\n"


# --- AWS CLI -----------------------------------------------------------------------------------


def _render_aws_cli(policy: Mapping[str, Any], role_name: str, description: str) -> str:
    import shlex

    document = _compact_json(policy)
    create = shlex.join(
        [
            "aws",
            "iam",
            "create-role",
            "--role-name",
            role_name,
            "--description",
            description,
            "--max-session-duration",
            str(MAX_SESSION_DURATION),
            "--assume-role-policy-document",
            document,
        ]
    )
    update = shlex.join(
        [
            "aws",
            "iam",
            "update-assume-role-policy",
            "--role-name",
            role_name,
            "--policy-document",
            document,
        ]
    )
    return (
        "# Create the role:\n"
        f"{create}\n"
        "# Or replace the trust policy of an existing role:\n"
        f"{update}\n"
    )
