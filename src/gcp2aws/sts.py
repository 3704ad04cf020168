"""AssumeRoleWithWebIdentity through botocore, unsigned, mapped to ``AwsCredentials``.

botocore does the wire protocol, region/endpoint resolution (AWS_ENDPOINT_URL_STS,
AWS_STS_REGIONAL_ENDPOINTS, FIPS, dual-stack, profile settings), proxies, CA bundles and its
standard retries (throttling, 5xx, IDPCommunicationError). The client is UNSIGNED, so botocore
never resolves AWS credentials: a default profile whose credential_process is gcp2aws itself
cannot recurse.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from gcp2aws import envvars, validation
from gcp2aws._version import __version__
from gcp2aws.errors import ConfigError, Gcp2AwsError, StsDeniedError, StsError
from gcp2aws.models import AwsCredentials, IdToken
from gcp2aws.retry import Deadline, alarm
from gcp2aws.sanitize import for_terminal

if TYPE_CHECKING:
    import botocore.session

log = logging.getLogger(__name__)

BOTOCORE_ATTEMPTS = 3
DENIED_CODES = frozenset({"AccessDenied", "IDPRejectedClaim"})
TRANSIENT_INVALID_TOKEN = "couldn't retrieve verification key"
NETWORK_HINT = "Check network access, proxies (HTTPS_PROXY) and AWS_ENDPOINT_URL_STS"


def resolve_region(
    role_arn: str,
    explicit: str | None,
    session: botocore.session.Session,
    environ: Mapping[str, str] | None = None,
) -> str:
    """--region, else AWS_REGION, else botocore's (AWS_DEFAULT_REGION, profile), else the
    partition's."""
    if explicit:
        return explicit
    # botocore itself reads only AWS_DEFAULT_REGION; AWS_REGION is what the other SDKs and
    # AWS CLI v2 honour first.
    environ = os.environ if environ is None else environ
    configured = environ.get(envvars.AWS_REGION) or session.get_config_variable("region")
    if isinstance(configured, str) and configured:
        return configured
    return validation.default_region(role_arn)


def new_session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.Session()


def profile_session(profile: str, environ: Mapping[str, str]) -> botocore.session.Session:
    """A botocore session reading ``profile`` from the config file ``environ`` names: what
    the AWS CLI builds for ``--profile``. Credentials are always passed in explicitly."""
    from gcp2aws import paths

    session = new_session()
    session.set_config_variable("config_file", paths.aws_config_file(environ))
    session.set_config_variable("profile", profile)
    return session


def cli_region(
    session: botocore.session.Session, environ: Mapping[str, str], *, profile: str
) -> str:
    """The region the AWS CLI resolves for ``session``'s profile, or ``ConfigError`` where
    the CLI would stop with "You must specify a region"."""
    from botocore.exceptions import BotoCoreError

    region = environ.get(envvars.AWS_REGION) or environ.get(envvars.AWS_DEFAULT_REGION)
    if not region:
        try:
            region = session.get_config_variable("region")
        except BotoCoreError as exc:  # ProfileNotFound, ConfigParseError
            raise ConfigError(
                f"botocore cannot read profile {profile!r}: {type(exc).__name__}",
                hint="Check AWS_CONFIG_FILE and the profile's syntax",
            ) from exc
    if not isinstance(region, str) or not region:
        raise ConfigError(
            f"profile {profile!r} has no region, and neither AWS_REGION nor "
            "AWS_DEFAULT_REGION is set: the AWS CLI would refuse it",
            hint=f"Add `region = ...` to the profile, or rerun `gcp2aws init --profile "
            f"{profile} --region REGION --yes`",
        )
    return region


def check_endpoint_environment(environ: Mapping[str, str] | None) -> None:
    """What botocore will read, checked first, each a ConfigError with the fix.

    A malformed AWS_ENDPOINT_URL(_STS) fails deep inside botocore; an AWS config or
    credentials file that is a FIFO blocks its ``open()`` forever, a device reads forever.
    """
    from gcp2aws import paths
    from gcp2aws.atomicfile import kind_of
    from gcp2aws.boundedread import is_null_device

    environ = os.environ if environ is None else environ  # botocore reads os.environ itself
    for name in (envvars.AWS_ENDPOINT_URL_STS, envvars.AWS_ENDPOINT_URL):
        if environ.get(name):
            validation.endpoint_url(environ[name], name=name)
    for name, path in (
        (envvars.AWS_CONFIG_FILE, paths.aws_config_file(environ)),
        (envvars.AWS_SHARED_CREDENTIALS_FILE, paths.aws_credentials_file(environ)),
    ):
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            continue  # missing or unreadable: botocore copes, and says so
        kind = kind_of(info.st_mode)
        if kind is not None and not is_null_device(info):
            raise ConfigError(
                f"the AWS {'config' if name == envvars.AWS_CONFIG_FILE else 'credentials'} "
                f"file {path} is {kind}, not a regular file",
                hint=f"Point {name} at a regular file, or unset it",
            )


def make_client(
    region: str,
    deadline: Deadline,
    session: botocore.session.Session,
    signed_with: AwsCredentials | None = None,
) -> Any:
    """An STS client on the deadline; unsigned (web identity), or signed with exactly
    ``signed_with`` (a chained hop): never with credentials botocore would go looking for."""
    from botocore import UNSIGNED
    from botocore.config import Config

    # Spread what is left of the budget over botocore's attempts and its backoff sleeps
    # (standard mode: up to 1 s, then up to 2 s), which botocore does not clip to our deadline.
    remaining = deadline.remaining()
    attempts = BOTOCORE_ATTEMPTS if remaining > 8 else 2 if remaining > 3 else 1
    backoff = {3: 3.0, 2: 1.0}.get(attempts, 0.0)
    per_attempt = max(1.0, (remaining - backoff) / attempts)
    config = Config(
        **({} if signed_with else {"signature_version": UNSIGNED}),
        region_name=region,
        retries={"mode": "standard", "total_max_attempts": attempts},
        connect_timeout=min(5.0, per_attempt),
        read_timeout=per_attempt,
        user_agent_extra=f"gcp2aws/{__version__}",
    )
    if signed_with is None:
        client = session.create_client("sts", region_name=region, config=config)
    else:
        client = session.create_client(
            "sts",
            region_name=region,
            config=config,
            aws_access_key_id=signed_with.access_key_id,
            aws_secret_access_key=signed_with.secret_access_key,
            aws_session_token=signed_with.session_token,
        )
    client.meta.events.register("before-send.sts", _bounded_send(client))
    return client


MAX_STS_BODY = 1 << 20  # a real AssumeRoleWithWebIdentity answer is under 4 KiB


def _bounded_send(client: Any) -> Callable[..., Any]:
    """A before-send hook that reads at most MAX_STS_BODY of the answer.

    botocore would read a whole body into memory (a 200 MB answer cost 1 GB of RSS): send
    through the client's own HTTP session with streaming on, read up to the cap, and hand
    botocore the bytes. Two private attributes (the endpoint's session, the response's cached
    content) are the price; the request, its signing and the parsing stay botocore's.
    """

    def send(request: Any, **_kwargs: Any) -> Any:
        request.stream_output = True
        response = client._endpoint.http_session.send(request)
        try:
            data = response.raw.read(MAX_STS_BODY + 1)
        except Exception as exc:
            # What botocore's own send raises for a body cut short or stalled: retryable.
            from botocore import exceptions
            from urllib3.exceptions import ReadTimeoutError

            if isinstance(exc, ReadTimeoutError):
                raise exceptions.ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
            raise exceptions.ConnectionClosedError(endpoint_url=request.url) from exc
        if len(data) > MAX_STS_BODY:
            response.raw.close()
            raise StsError(
                f"STS at {client.meta.endpoint_url} answered with more than {MAX_STS_BODY:,} bytes",
                code="ResponseTooLarge",
                hint="Check AWS_ENDPOINT_URL_STS and any proxy in between",
            )
        response._content = data
        return response

    return send


def denied_hint(token: IdToken, role_arn: str) -> str:
    return (
        f"Check the role's trust policy: accounts.google.com:aud is compared with the token's "
        f"azp ({token.azp or token.aud or '-'}), accounts.google.com:oaud with its aud "
        f"({token.aud or '-'}), accounts.google.com:sub with its sub ({token.sub or '-'}). "
        f"Run `gcp2aws doctor --role-arn {role_arn}` to find the failing condition"
    )


def _classify(exc: Exception, role_arn: str, endpoint: str, *, hint_denied: str) -> StsError:
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        HTTPClientError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = for_terminal(str(err.get("Code", "Unknown")), 100)
        message = for_terminal(" ".join(str(err.get("Message", "")).split()), 300)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"STS {code} for {role_arn}: {message}" if message else f"STS {code} for {role_arn}"
        if code == "InvalidIdentityToken" and TRANSIENT_INVALID_TOKEN in message.lower():
            return StsError(text, code=code, transient=True)
        if code == "ExpiredTokenException":
            # Often a token that aged in a cache, or a skewed clock: one fresh token may pass.
            return StsDeniedError(
                text,
                code=code,
                transient=True,
                hint="Check this machine's clock (the token's iat/exp must be current for STS)",
            )
        if code in DENIED_CODES or code == "InvalidIdentityToken":
            return StsDeniedError(text, code=code, hint=hint_denied)
        if code == "RegionDisabledException":
            return StsError(
                text,
                code=code,
                hint="Activate STS in that region (IAM > Account settings) "
                "or pass --region with an enabled one",
            )
        if code in ("MalformedPolicyDocument", "PackedPolicyTooLarge", "ValidationError"):
            return StsError(
                text,
                code=code,
                hint="Check --session-policy, --policy-arns, "
                "--duration-seconds against the role's MaxSessionDuration",
            )
        transient = code == "IDPCommunicationError" or status >= 500 or "Throttl" in code
        return StsError(
            text, code=code, transient=transient, hint="STS is failing or throttling; retry later"
        )
    if isinstance(exc, ResponseParserError):
        return StsError(
            f"STS at {endpoint} sent a malformed response",
            code="Malformed",
            hint="Check AWS_ENDPOINT_URL_STS and any proxy in between",
            transient=True,
        )
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, ConnectionError, HTTPClientError)):
        # A hang is not a refusal: the provider turns it into a timeout when the budget is spent.
        hang = isinstance(exc, (ReadTimeoutError, ConnectTimeoutError))
        name = type(exc).__name__
        return StsError(
            f"STS at {endpoint} did not answer in time ({name})"
            if hang
            else f"cannot reach STS at {endpoint}: {name}",
            code="Timeout" if hang else "Connection",
            transient=True,
            hint=NETWORK_HINT,
        )
    return StsError(f"STS call failed: {type(exc).__name__}: {exc}", code=type(exc).__name__)


def _setup_error(exc: Exception) -> Gcp2AwsError:
    """botocore could not even build the STS client: a local configuration problem."""
    from botocore.exceptions import ProfileNotFound

    if isinstance(exc, ProfileNotFound):
        profile = getattr(exc, "kwargs", {}).get("profile", "?")
        return ConfigError(
            f"AWS profile {profile!r} (from AWS_PROFILE) is not in the AWS config file",
            hint="Unset AWS_PROFILE or create the profile; gcp2aws reads it only for the "
            "STS region and endpoint",
        )
    return ConfigError(
        f"cannot configure the STS client: {type(exc).__name__}: {exc}",
        hint="Check AWS_REGION, AWS_ENDPOINT_URL_STS and the AWS config file",
    )


MALFORMED_HINT = "Check AWS_ENDPOINT_URL_STS and any proxy in between"


def _client_for(
    role_arn: str,
    region: str | None,
    deadline: Deadline,
    session: botocore.session.Session | None,
    environ: Mapping[str, str] | None,
    *,
    signed_with: AwsCredentials | None = None,
) -> Any:
    """The STS client of one call: the environment checked, the region resolved."""
    from botocore.exceptions import BotoCoreError

    check_endpoint_environment(environ)
    session = session or new_session()
    try:
        region = resolve_region(role_arn, region, session, environ)
        return make_client(region, deadline, session, signed_with=signed_with)
    except BotoCoreError as exc:
        raise _setup_error(exc) from exc


def _malformed(endpoint: str, exc: Exception, *, hint: str | None = None) -> StsError:
    return StsError(
        f"STS at {endpoint} sent a malformed response ({type(exc).__name__})",
        code="Malformed",
        hint=hint,
        transient=True,
    )


# What botocore's XML parser lets escape on some malformed replies: a response element missing
# (KeyError), an Expiration that is not a timestamp (ValueError), or a numeric one out of any
# clock's range such as "INF" or "1e400" (parse_timestamp raises RuntimeError).
PARSER_ESCAPES = (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError)


def assume_role_with_web_identity(
    *,
    token: IdToken,
    role_arn: str,
    session_name: str,
    duration_seconds: int,
    deadline: Deadline,
    region: str | None = None,
    session_policy: str | None = None,
    policy_arns: tuple[str, ...] = (),
    session: botocore.session.Session | None = None,
    environ: Mapping[str, str] | None = None,
) -> AwsCredentials:
    """One exchange (botocore retries inside it); raises ``StsError`` / ``StsDeniedError``.

    ``environ`` decides AWS_REGION; botocore's session reads its own settings.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError  # not a BotoCoreError

    client = _client_for(role_arn, region, deadline, session, environ)
    endpoint = client.meta.endpoint_url
    params: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "WebIdentityToken": token.raw,
        "DurationSeconds": duration_seconds,
    }
    if session_policy:
        params["Policy"] = session_policy
    if policy_arns:
        params["PolicyArns"] = [{"arn": arn} for arn in policy_arns]
    log.debug("STS AssumeRoleWithWebIdentity at %s as %s", endpoint, session_name)
    try:
        # botocore's read timeout restarts on every byte: bound the whole call from outside.
        with alarm(deadline, f"STS at {endpoint}"):
            response = client.assume_role_with_web_identity(**params)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise _classify(exc, role_arn, endpoint, hint_denied=denied_hint(token, role_arn)) from exc
    except PARSER_ESCAPES as exc:
        raise _malformed(endpoint, exc, hint=MALFORMED_HINT) from exc
    creds = credentials_from_response(response, source=token.source)
    _refuse_expired(creds, endpoint)
    return creds


def assume_role(
    *,
    credentials: AwsCredentials,
    role_arn: str,
    session_name: str,
    duration_seconds: int,
    deadline: Deadline,
    hop: int,
    external_id: str | None = None,
    region: str | None = None,
    session: botocore.session.Session | None = None,
    environ: Mapping[str, str] | None = None,
) -> AwsCredentials:
    """One chained hop: AssumeRole signed with the previous hop's ``credentials``.

    A refusal names the hop and the principal it presented (the previous session), which is
    what the hop role's trust policy must allow.
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    client = _client_for(role_arn, region, deadline, session, environ, signed_with=credentials)
    endpoint = client.meta.endpoint_url
    params: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": duration_seconds,
    }
    if external_id:
        params["ExternalId"] = external_id
    presented = credentials.assumed_role_arn or "the previous hop's session"
    hint = (
        f"Hop {hop} ({role_arn}) was asked by {presented}: the role's trust policy must allow "
        f"its role for sts:AssumeRole{' with this sts:ExternalId' if external_id else ''} "
        f"(gcp2aws policy --for-chain prints it)"
    )
    log.debug("STS AssumeRole hop %d at %s as %s", hop, endpoint, session_name)
    try:
        with alarm(deadline, f"STS at {endpoint}"):
            response = client.assume_role(**params)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        error = _classify(exc, role_arn, endpoint, hint_denied=hint)
        error.fields["hop"] = hop
        error.fields["presented"] = presented
        raise error from exc
    except PARSER_ESCAPES as exc:
        raise _malformed(endpoint, exc) from exc
    creds = credentials_from_response(response, source=credentials.source)
    _refuse_expired(creds, endpoint)
    return creds


# Credentials that lapse within this margin would fail the caller's first request.
EXPIRY_MARGIN_SECONDS = 60


def _refuse_expired(creds: AwsCredentials, endpoint: str, now: datetime | None = None) -> None:
    """Raise StsError for credentials already expired or within the margin: never print them."""
    now = now or datetime.now(timezone.utc)
    left = (creds.expiration - now).total_seconds()
    if left < EXPIRY_MARGIN_SECONDS:
        raise StsError(
            f"STS at {endpoint} returned credentials that expire in {left:.0f}s "
            f"(Expiration {creds.expiration:%Y-%m-%dT%H:%M:%SZ})",
            code="Expired",
            hint="Check this machine's clock and the STS endpoint (AWS_ENDPOINT_URL_STS)",
        )


def credentials_from_response(response: Mapping[str, Any], *, source: str) -> AwsCredentials:
    try:
        creds = response["Credentials"]
        expiration = creds["Expiration"]
        if not isinstance(expiration, datetime):
            raise TypeError("Expiration is not a timestamp")
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=timezone.utc)
        role = response.get("AssumedRoleUser", {}).get("Arn")
        account = role.split(":")[4] if isinstance(role, str) and role.count(":") >= 5 else None
        key_id, secret, session_token = (
            creds[name] for name in ("AccessKeyId", "SecretAccessKey", "SessionToken")
        )
        if not all(isinstance(v, str) and v for v in (key_id, secret, session_token)):
            # An empty <AccessKeyId/> or a null would otherwise be cached as "" or "None".
            raise TypeError("a credential field is empty or not a string")
        return AwsCredentials(
            access_key_id=key_id,
            secret_access_key=secret,
            session_token=session_token,
            expiration=expiration.astimezone(timezone.utc),
            account_id=account or None,
            assumed_role_arn=role if isinstance(role, str) else None,
            source=source,
        )
    except (KeyError, TypeError, AttributeError, OverflowError) as exc:
        # OverflowError: an Expiration near year 9999 with an offset cannot be made UTC.
        raise StsError("STS answered without usable credentials", code="Malformed") from exc


def caller_identity(
    creds: AwsCredentials,
    *,
    role_arn: str,
    region: str | None,
    timeout: float,
    session: botocore.session.Session | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """GetCallerIdentity signed with ``creds``: the ARN STS sees, or ``StsError``.

    Proves that what an exchange returned actually works (``gcp2aws init`` runs it).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    # The exchange's own client, signed: per-attempt timeouts sized to the budget.
    client = _client_for(role_arn, region, Deadline(timeout), session, environ, signed_with=creds)
    region = client.meta.region_name
    try:
        return str(client.get_caller_identity()["Arn"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "") or "unknown error"
        raise StsError(
            f"STS GetCallerIdentity with the new credentials failed in {region}: {code}",
            hint="Check that STS is enabled for the account in that region, or pass --region",
            code=code,
        ) from exc
    except (BotoCoreError, KeyError) as exc:
        raise StsError(
            f"STS GetCallerIdentity with the new credentials failed in {region}: "
            f"{type(exc).__name__}",
            hint="Check network access to the STS endpoint",
        ) from exc
