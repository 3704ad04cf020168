"""The impersonation source: an ID token minted as a service account via generateIdToken.

The caller's own credentials (the "source credentials") come from Application Default
Credentials: a credentials file (``authorized_user`` from gcloud, ``service_account``,
``external_account`` for Workload Identity Federation), gcloud's well-known ADC file, or the
metadata server's access token. Their access token authorizes one generateIdToken call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gcp2aws import paths
from gcp2aws.errors import NoTokenSourceError, TokenUnavailableError
from gcp2aws.idtoken import gauth, iamcredentials, metadata
from gcp2aws.idtoken.base import TokenSource, configured
from gcp2aws.idtoken.jwt import decode_unverified
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline

if TYPE_CHECKING:
    from gcp2aws.settings import Settings

NAME = "impersonate"
ACCESS_TOKEN_PATH = "instance/service-accounts/default/token"


class Caller(Protocol):
    """Who calls generateIdToken: something that yields an OAuth access token."""

    def describe(self) -> str: ...

    def principal(self) -> str: ...

    def access_token(self, pool: gauth.DeadlinePool, *, source: str) -> str: ...


class GoogleAuthCaller:
    """Source credentials from a credentials file, refreshed by google-auth."""

    def __init__(self, creds: Any, *, path: str, kind: str, info: Mapping[str, Any]) -> None:
        self.creds = creds
        self.path = path
        self.kind = kind
        self._principal = str(
            info.get("client_email")
            or info.get("account")
            or getattr(creds, "service_account_email", None)
            or ""
        )

    def describe(self) -> str:
        return f"{self.kind} credentials in {self.path}"

    def principal(self) -> str:
        if self._principal:
            return self._principal
        if self.kind.endswith("authorized_user"):
            return f"your user account (user:YOU@EXAMPLE.COM, logged in to {self.path})"
        return f"the {self.kind} principal of {self.path}"

    def access_token(self, pool: gauth.DeadlinePool, *, source: str) -> str:
        if self.creds.valid:  # still good (google-auth allows for skew): a watcher reuses it
            return str(self.creds.token)
        gauth.refresh(self.creds, pool, source=source, what=f"access token from {self.describe()}")
        return str(self.creds.token or "")


class MetadataCaller:
    """Source credentials of the VM / pod / service: the metadata server's access token.

    Fetched with our metadata client rather than google-auth's, which reads GCE_METADATA_HOST
    once at import time.
    """

    def __init__(self, source: metadata.MetadataSource) -> None:
        self.host = source.host
        self.client = source.client

    def describe(self) -> str:
        return f"the metadata server at {self.host}"

    def principal(self) -> str:
        return f"the workload's service account (metadata server at {self.host})"

    def access_token(self, pool: gauth.DeadlinePool, *, source: str) -> str:
        reply = self.client.get(ACCESS_TOKEN_PATH, pool.deadline, what="access token request")
        if reply.status != 200:
            raise TokenUnavailableError(
                f"{source}: the metadata server at {self.host} gave no access token "
                f"(HTTP {reply.status})",
                hint="Attach a service account with the cloud-platform scope to the workload",
            )
        try:
            token = json.loads(reply.body)["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailableError(
                f"{source}: the metadata server at {self.host} sent a malformed access token"
            ) from exc
        return str(token)


def caller_from_file(path: str, environ: Mapping[str, str], *, source: str) -> GoogleAuthCaller:
    info = gauth.read_info(path, source=source)
    creds = gauth.load_credentials(info, path=path, source=source, environ=environ)
    return GoogleAuthCaller(creds, path=path, kind=str(info["type"]), info=info)


def default_caller(
    credentials_file: str | None, environ: Mapping[str, str], *, source: str = NAME
) -> Caller:
    """Application Default Credentials, in google-auth's order, honouring ``environ``."""
    explicit = paths.google_credentials_file(credentials_file, environ)
    if explicit:
        return caller_from_file(explicit, environ, source=source)
    well_known = paths.gcloud_adc_file(environ)
    if os.path.isfile(well_known):
        return caller_from_file(well_known, environ, source=source)
    found = metadata.detect(environ)
    if found is not None:
        return MetadataCaller(found)
    raise NoTokenSourceError(
        f"{source}: no credentials to impersonate with: not on Google Cloud and no "
        "credentials found",
        hint="Run `gcloud auth application-default login` (or set "
        "GOOGLE_APPLICATION_CREDENTIALS) and keep --impersonate-service-account",
    )


def mint(
    caller: Caller,
    target: str,
    *,
    delegates: Sequence[str],
    audience: str,
    deadline: Deadline,
    environ: Mapping[str, str],
    api_root: str,
    source: str,
) -> IdToken:
    """One ID token for ``audience`` as ``target``, authorized by ``caller``."""
    pool = gauth.DeadlinePool(deadline, environ)
    try:
        access_token = caller.access_token(pool, source=source)
        raw = iamcredentials.generate_id_token(
            access_token,
            target,
            audience=audience,
            delegates=delegates,
            api_root=api_root,
            pool=pool,
            source=source,
            caller=caller.principal(),
        )
    finally:
        pool.close()
    return decode_unverified(raw, source=f"{source} ({target})")


class ImpersonateSource:
    """ID tokens for ``target`` minted with whatever credentials ADC finds here."""

    name = NAME
    requests_audience = True  # Google mints the token for the audience we ask

    def __init__(
        self,
        target: str,
        *,
        delegates: Sequence[str] = (),
        credentials_file: str | None = None,
        environ: Mapping[str, str],
        caller: Caller | None = None,
    ) -> None:
        self.target = target
        self.delegates = tuple(delegates)
        self.credentials_file = credentials_file
        self.environ = environ
        self._caller = caller

    def caller(self) -> Caller:
        if self._caller is None:
            self._caller = default_caller(self.credentials_file, self.environ)
        return self._caller

    def describe(self) -> str:
        via = f" via {','.join(self.delegates)}" if self.delegates else ""
        who = self._caller.describe() if self._caller else "application default credentials"
        return f"generateIdToken as {self.target}{via} with {who}"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        return mint(
            self.caller(),
            self.target,
            delegates=self.delegates,
            audience=audience,
            deadline=deadline,
            environ=self.environ,
            api_root=iamcredentials.endpoint(self.environ),
            source=NAME,
        )


def applies(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    email = configured(
        settings.impersonate_service_account,
        forced=forced,
        flag="--impersonate-service-account",
        name=NAME,
    )
    if email is None:
        return None
    return ImpersonateSource(
        email,
        delegates=settings.delegates,
        credentials_file=settings.credentials_file,
        environ=environ,
    )
