"""`gcp2aws doctor` inside a Pod whose own SDK exchanges a token file (the webhook's
``sidecar`` and ``projected`` modes, or any IRSA-style setup).

The checks follow what the SDK does with ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN``
and ``AWS_ROLE_SESSION_NAME``: read the token, call AssumeRoleWithWebIdentity, and on a
refusal evaluate the role's trust policy against the token the way AWS does. For a Google
token the keys are ``accounts.google.com:*``; for any other issuer (a Kubernetes cluster's),
the principal is the account's IAM OIDC provider for the issuer and the keys are
``ISSUER:sub`` and ``ISSUER:aud``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from gcp2aws import envvars, sts, validation
from gcp2aws.boundedread import read_regular
from gcp2aws.doctor.checks import FAIL, PASS, SKIP, WARN, Check, Checklist, load_trust_policy
from gcp2aws.errors import Gcp2AwsError, StsDeniedError, UsageError
from gcp2aws.idtoken.jwt import MAX_TOKEN_CHARS, decode_bytes
from gcp2aws.models import IdToken
from gcp2aws.policy.evaluate import RequestContext, evaluate
from gcp2aws.retry import Deadline
from gcp2aws.sanitize import for_terminal

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


def applies(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(envvars.AWS_WEB_IDENTITY_TOKEN_FILE))


class WebIdentityDoctor(Checklist):
    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        trust_policy_file: str | None = None,
        fetch_role_policy: bool = True,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.environ = environ
        self.trust_policy_file = trust_policy_file
        self.fetch_role_policy = fetch_role_policy
        self.timeout = timeout
        self.clock = clock
        self.checks = []

    def run(self) -> list[Check]:
        token = self.check_token()
        role_arn = self.check_role()
        if token is None or role_arn is None:
            self.add("exchange", SKIP, "needs a readable token and a role ARN")
            return self.checks
        self.check_exchange(token, role_arn)
        return self.checks

    # --- the token file and the role -----------------------------------------------------------

    def check_token(self) -> IdToken | None:
        path = self.environ[envvars.AWS_WEB_IDENTITY_TOKEN_FILE]
        try:
            data = read_regular(path, MAX_TOKEN_CHARS + 2)
            token = decode_bytes(
                data, source=path, binary="holds binary data", hint="It should hold a JWT"
            )
        except OSError as exc:
            self.add(
                "token file",
                FAIL,
                f"{envvars.AWS_WEB_IDENTITY_TOKEN_FILE}={for_terminal(path)}: cannot read it "
                f"({exc.strerror or type(exc).__name__})",
                "Check the volume mount: the webhook mounts it read-only in every container "
                "it injected",
            )
            return None
        except Gcp2AwsError as exc:
            self.add("token file", FAIL, exc.message, exc.hint)
            return None
        remaining = (token.expires_at or 0) - self.clock()
        issuer = token.claim_str("iss")
        detail = (
            f"{for_terminal(path)}: iss {for_terminal(issuer)!r}, sub "
            f"{for_terminal(token.sub)!r}, aud {for_terminal(token.aud)!r}, expires in "
            f"{int(remaining)}s"
        )
        if remaining <= 0:
            self.add(
                "token file",
                FAIL,
                detail,
                "The token expired: the sidecar (or the kubelet, for a projected token) is not "
                "refreshing it; check the sidecar's logs",
            )
            return None
        self.add("token file", PASS, detail)
        return token

    def check_role(self) -> str | None:
        value = self.environ.get(envvars.AWS_ROLE_ARN, "")
        try:
            role_arn = validation.role_arn(value)
        except UsageError as exc:
            self.add("role", FAIL, f"{envvars.AWS_ROLE_ARN}: {exc.message}", exc.hint)
            return None
        self.add("role", PASS, role_arn)
        return role_arn

    # --- the exchange and the trust policy -----------------------------------------------------

    def check_exchange(self, token: IdToken, role_arn: str) -> None:
        session_name = self.environ.get("AWS_ROLE_SESSION_NAME") or "gcp2aws-doctor"
        try:
            creds = sts.assume_role_with_web_identity(
                token=token,
                role_arn=role_arn,
                session_name=validation.sanitize_session_name(session_name),
                duration_seconds=900,
                deadline=Deadline(self.timeout),
                environ=self.environ,
            )
        except StsDeniedError as exc:
            self.add("exchange", FAIL, exc.message, self._denied_fix(token, exc))
            self.check_trust_policy(token, role_arn, session_name)
            return
        except Gcp2AwsError as exc:
            self.add("exchange", FAIL, exc.message, exc.hint)
            return
        self.add(
            "exchange",
            PASS,
            f"assumed {creds.assumed_role_arn or role_arn} (key {creds.redacted_key_id()}), "
            "as the Pod's SDK will",
        )

    def _denied_fix(self, token: IdToken, exc: StsDeniedError) -> str:
        issuer = token.claim_str("iss")
        if issuer in GOOGLE_ISSUERS:
            return exc.hint
        if exc.code == "InvalidIdentityToken":
            shown = for_terminal(issuer)
            return (
                f"STS could not verify this token: the account needs an IAM OIDC provider for "
                f"{shown} (gcp2aws policy --kubernetes-issuer ... prints it), and AWS must be "
                f"able to fetch {shown}/.well-known/openid-configuration and its jwks_uri from "
                "the internet; if it cannot, use gcp2aws.io/mode: sidecar"
            )
        return "See the trust policy check below"

    def check_trust_policy(self, token: IdToken, role_arn: str, session_name: str) -> None:
        try:
            policy, origin = self._trust_policy(role_arn)
        except Gcp2AwsError as exc:
            self.add(
                "trust policy",
                WARN,
                exc.message,
                "Pass --trust-policy FILE (aws iam get-role --role-name NAME "
                "--query Role.AssumeRolePolicyDocument > FILE)",
            )
            return
        context = request_context(token, role_arn, session_name)
        try:
            result = evaluate(policy, context)
        except Gcp2AwsError as exc:
            self.add("trust policy", FAIL, f"{origin}: {exc.one_line()}")
            return
        for warning in result.warnings:
            self.add("trust policy", WARN, warning)
        if result.allowed:
            self.add(
                "trust policy",
                FAIL,
                f"{origin} allows this token ({result.summary()}) but STS denied it",
                "Check the OIDC provider's audiences (client IDs) and the role ARN's account",
            )
        else:
            self.add("trust policy", FAIL, f"{origin}: {result.summary()}")

    def _trust_policy(self, role_arn: str) -> tuple[Any, str]:
        return load_trust_policy(self.trust_policy_file, role_arn, fetch=self.fetch_role_policy)


def request_context(token: IdToken, role_arn: str, session_name: str) -> RequestContext:
    """What AWS evaluates the trust policy against, for this token."""
    issuer = token.claim_str("iss")
    if issuer in GOOGLE_ISSUERS:
        return RequestContext.from_token(token, role_session_name=session_name)
    host_path = issuer.removeprefix("https://").rstrip("/")
    account = role_arn.split(":")[4]
    partition = validation.partition_of(role_arn)
    raw_aud = token.claims.get("aud")
    audiences = [str(a) for a in raw_aud] if isinstance(raw_aud, list) else [token.aud]
    keys = {
        f"{host_path}:sub": [token.sub],
        f"{host_path}:aud": audiences,
        "sts:RoleSessionName": [session_name],
    }
    return RequestContext(
        principal_federated=f"arn:{partition}:iam::{account}:oidc-provider/{host_path}",
        keys={k: [v for v in vs if v] for k, vs in keys.items()},
        claims={"sub": token.sub, "aud": token.aud},
    )
