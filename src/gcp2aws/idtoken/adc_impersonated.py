"""The ``impersonated_service_account`` ADC file source (``gcloud auth application-default
login --impersonate-service-account``): its source credentials mint an ID token as its target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from gcp2aws.errors import ConfigError
from gcp2aws.idtoken import gauth, iamcredentials
from gcp2aws.idtoken.impersonate import GoogleAuthCaller, mint
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline

NAME = "adc-impersonated"
TYPE = "impersonated_service_account"
_TARGET = re.compile(r"/serviceAccounts/(?P<email>[^/:]+):generateAccessToken$")


def _bare(delegate: str) -> str:
    return delegate.rsplit("/", 1)[-1]


class AdcImpersonatedSource:
    """ID tokens for the file's target service account, through its delegates."""

    name = NAME
    requests_audience = True  # Google mints the token for the audience we ask

    def __init__(self, path: str, info: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        url = info.get("service_account_impersonation_url")
        source_info = info.get("source_credentials")
        match = _TARGET.search(urlsplit(url).path) if isinstance(url, str) else None
        if match is None or not isinstance(source_info, dict):
            raise ConfigError(
                f"{NAME}: {path} lacks service_account_impersonation_url or source_credentials",
                hint="Recreate it with `gcloud auth application-default login "
                "--impersonate-service-account EMAIL`",
            )
        assert isinstance(url, str)  # noqa: S101 - narrowed by the match above
        self.target = unquote(match["email"])
        self.delegates = tuple(_bare(str(d)) for d in info.get("delegates") or ())
        parts = urlsplit(url)
        # The file says where to impersonate; the environment override still wins (tests).
        self.api_root = iamcredentials.endpoint(environ, f"{parts.scheme}://{parts.netloc}")
        self.source_info = source_info
        self._caller: GoogleAuthCaller | None = None

    def describe(self) -> str:
        return f"{self.path}: generateIdToken as {self.target}"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        if self._caller is None:
            creds = gauth.load_credentials(
                self.source_info, path=self.path, source=NAME, environ=self.environ
            )
            kind = f"source ({self.source_info.get('type')})"
            self._caller = GoogleAuthCaller(creds, path=self.path, kind=kind, info=self.source_info)
        return mint(
            self._caller,
            self.target,
            delegates=self.delegates,
            audience=audience,
            deadline=deadline,
            environ=self.environ,
            api_root=self.api_root,
            source=NAME,
        )


def from_file(path: str, environ: Mapping[str, str]) -> AdcImpersonatedSource:
    return AdcImpersonatedSource(path, gauth.read_info_of_type(path, TYPE, source=NAME), environ)
