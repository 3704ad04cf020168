"""The token-file source: an OIDC token from any issuer, read from a file on every miss.

The file may be rotated by someone else (a Kubernetes projected token, ``gcp2aws token
--write --watch``), so it is read afresh each time and never cached here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gcp2aws.boundedread import read_regular
from gcp2aws.errors import TokenUnavailableError
from gcp2aws.idtoken.base import TokenSource, configured
from gcp2aws.idtoken.jwt import MAX_TOKEN_CHARS, decode_bytes
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gcp2aws.settings import Settings

NAME = "file"


class FileSource:
    """The token in ``path``; its audience is whatever the issuer put there."""

    name = NAME
    requests_audience = False  # the file's issuer chose the audience, not us

    def __init__(self, path: str) -> None:
        self.path = os.path.expanduser(path)

    def describe(self) -> str:
        return f"token file {self.path}"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        try:
            data = read_regular(self.path, MAX_TOKEN_CHARS + 2)
        except OSError as exc:
            raise TokenUnavailableError(
                f"{NAME}: cannot read token file {self.path}: {exc.strerror or exc}",
                hint="Check --token-file and the file's permissions (the writer may not have "
                "created it yet)",
            ) from exc
        return decode_bytes(
            data,
            source=f"{NAME} ({self.path})",
            binary="holds binary data",
            hint="Point --token-file at a file that holds one compact JWT",
        )


def applies(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    path = configured(settings.token_file, forced=forced, flag="--token-file", name=NAME)
    return FileSource(path) if path else None
