"""The service-account key file source: an ID token from a ``service_account`` JSON key.

google-auth signs a JWT-bearer assertion with the key and trades it at the key's token_uri
for an ID token. In such tokens ``azp`` is the service account's email, not its numeric ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gcp2aws import envvars
from gcp2aws.errors import ConfigError
from gcp2aws.idtoken import gauth
from gcp2aws.idtoken.jwt import decode_unverified
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline

NAME = "service-account-key"
TYPE = "service_account"


class ServiceAccountKeySource:
    """ID tokens signed for the service account whose key file is at ``path``."""

    name = NAME
    requests_audience = True  # Google mints the token for the audience we ask

    def __init__(self, path: str, info: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.path = path
        self.info = dict(info)
        self.environ = environ
        self.email = str(info.get("client_email", ""))

    def describe(self) -> str:
        return f"service-account key {self.path} ({self.email or 'no client_email'})"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        from google.auth import exceptions
        from google.oauth2 import service_account

        info = dict(self.info)
        token_uri = self.environ.get(envvars.OAUTH_TOKEN_URI)
        if token_uri:
            info["token_uri"] = token_uri
        try:
            creds = service_account.IDTokenCredentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, target_audience=audience
            )
        except (exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{NAME}: {self.path} is not a usable service-account key ({type(exc).__name__})",
                hint="Download a new JSON key, or use --impersonate-service-account instead",
            ) from exc
        pool = gauth.DeadlinePool(deadline, self.environ)
        try:
            gauth.refresh(creds, pool, source=NAME, what=f"ID token for {self.email}")
        finally:
            pool.close()
        return decode_unverified(str(creds.token or ""), source=f"{NAME} ({self.email})")


def from_file(path: str, environ: Mapping[str, str]) -> ServiceAccountKeySource:
    """The source for a key file; ConfigError when the file is another type of credentials."""
    return ServiceAccountKeySource(path, gauth.read_info_of_type(path, TYPE, source=NAME), environ)
