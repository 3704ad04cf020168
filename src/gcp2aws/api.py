"""The Python API: typed credentials, and a boto3 session whose credentials refresh themselves.

Both go through ``CredentialProvider.get``, so a program, its ``credential_process`` profile
and a ``gcp2aws serve`` sidecar on the same host share one cache and never stampede STS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypedDict

from gcp2aws.models import AwsCredentials

if TYPE_CHECKING:
    import boto3
    import botocore.credentials
    from typing_extensions import Unpack

    from gcp2aws.provider import CredentialProvider
    from gcp2aws.settings import Settings

__all__ = ["boto3_session", "credentials"]

REFRESH_METHOD = "gcp2aws"


class ExchangeOptions(TypedDict, total=False):
    """The keyword arguments of :func:`credentials` and :func:`boto3_session`.

    Each mirrors the CLI flag of the same name; a missing or ``None`` value falls back to the
    ``GCP2AWS_*`` environment variable, then to the default, exactly as on the command line.
    """

    audience: str | None  # the ``aud`` requested for the Google ID token
    region: str | None  # the STS region (default: AWS_REGION, profile, the partition's)
    role_session_name: str | None
    duration_seconds: int | None  # 900-43200, capped by the role
    session_policy: str | None  # inline JSON, or @PATH
    policy_arns: Iterable[str] | None
    chain_role_arns: Iterable[str] | None  # hops after the first, each assumed with the last
    chain_external_id: str | None
    chain_role_session_name: str | None
    token_source: str | None
    credentials_file: str | None
    impersonate_service_account: str | None
    delegates: Iterable[str] | None
    token_file: str | None
    token_command: str | None
    cache_dir: str | None
    refresh_window: int | None
    timeout: float | None
    use_cache: bool  # read and write the shared on-disk cache (default True)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return ",".join(str(v) for v in value)  # type: ignore[attr-defined]


def _settings(
    role_arn: str | None, environ: Mapping[str, str] | None, options: ExchangeOptions
) -> Settings:
    from gcp2aws import settings

    unknown = sorted(set(options) - set(ExchangeOptions.__annotations__))
    if unknown:
        # What Python itself would say for an explicit keyword-only signature.
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    cli: dict[str, str | bool | None] = {
        name: _text(value) for name, value in options.items() if name != "use_cache"
    }
    cli["role_arn"] = role_arn
    cli["no_cache"] = not options.get("use_cache", True)
    loaded = settings.load(cli, environ)
    loaded.require_role_arn()
    return loaded


def _provider(
    settings: Settings, environ: Mapping[str, str] | None, *, long_lived: bool = False
) -> CredentialProvider:
    from gcp2aws import sts
    from gcp2aws.provider import CredentialProvider

    # A provider that refreshes for hours keeps one botocore session rather than re-loading
    # the endpoint and service models at every refresh.
    session = sts.new_session() if long_lived else None
    return CredentialProvider(settings, environ=environ, botocore_session=session)


def credentials(
    role_arn: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Unpack[ExchangeOptions],
) -> AwsCredentials:
    """Temporary AWS credentials for ``role_arn``, from the cache while they are fresh.

    Every argument mirrors the CLI flag of the same name; ``None`` falls back to the
    ``GCP2AWS_*`` environment variable, then to the default, exactly as on the command line
    (``role_arn`` falls back to ``GCP2AWS_ROLE_ARN``).

    Args:
        role_arn: the IAM role to assume (``arn:aws:iam::ACCOUNT:role/NAME``).
        environ: the environment to read settings from (default ``os.environ``).
        **options: see :class:`ExchangeOptions` (audience, region, duration_seconds,
            use_cache, ...).

    Returns:
        The credentials; ``expiration`` is a timezone-aware UTC datetime.

    Raises:
        gcp2aws.Gcp2AwsError: a subclass naming what failed (``UsageError`` for bad arguments,
        ``StsDeniedError`` when the role's trust policy refuses the identity, ...).
    """
    settings = _settings(role_arn, environ, options)
    return _provider(settings, environ).get().credentials


def refreshable_credentials(
    provider: CredentialProvider,
) -> botocore.credentials.RefreshableCredentials:
    """botocore credentials that call ``provider.get()`` whenever botocore wants a refresh."""
    from botocore.credentials import RefreshableCredentials

    from gcp2aws.formats import rfc3339

    def refresh() -> dict[str, str]:
        creds = provider.get().credentials
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key,
            "token": creds.session_token,
            "expiry_time": rfc3339(creds.expiration),
        }

    return RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method=REFRESH_METHOD
    )


def boto3_session(
    role_arn: str | None = None,
    *,
    region_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Unpack[ExchangeOptions],
) -> boto3.Session:
    """A ``boto3.Session`` whose credentials gcp2aws refreshes before they expire.

    The session's botocore credentials are ``RefreshableCredentials`` with gcp2aws as the
    refresher: botocore asks for new ones inside its refresh window (15 minutes before
    expiry), so a long-running program never uses expired credentials. No other credential
    source (environment, profiles, instance metadata) is consulted by this session.

    Args:
        role_arn: the IAM role to assume.
        region_name: the session's default region for clients; also the STS region unless
            ``region`` is given in ``options``.
        environ: the environment to read settings from (default ``os.environ``).
        **options: see :class:`ExchangeOptions`, as for :func:`credentials`.

    Requires boto3 (``pip install 'gcp2aws[boto3]'``).
    """
    try:
        import boto3
        import botocore.session
        from botocore.credentials import CredentialProvider, CredentialResolver
    except ImportError as exc:  # pragma: no cover - depends on the install
        from gcp2aws.errors import ConfigError

        raise ConfigError("boto3 is not installed", hint="pip install 'gcp2aws[boto3]'") from exc

    if region_name is not None and options.get("region") is None:
        options["region"] = region_name
    settings = _settings(role_arn, environ, options)
    provider = _provider(settings, environ, long_lived=True)
    creds = refreshable_credentials(provider)

    class _Gcp2AwsProvider(CredentialProvider):
        METHOD = REFRESH_METHOD
        CANONICAL_NAME = "gcp2aws"

        def load(self) -> botocore.credentials.RefreshableCredentials:
            return creds

    core = botocore.session.Session()
    # The public extension point: this session resolves credentials from gcp2aws only.
    core.register_component("credential_provider", CredentialResolver([_Gcp2AwsProvider()]))
    return boto3.Session(botocore_session=core, region_name=region_name)
