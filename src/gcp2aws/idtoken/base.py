"""What every Google token source provides, and the default session name derived from a token."""

from __future__ import annotations

from typing import Protocol

from gcp2aws.errors import ConfigError
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline
from gcp2aws.validation import sanitize_session_name


class TokenSource(Protocol):
    """A source of OIDC ID tokens. ``name`` travels on every token it returns."""

    name: str
    # False for sources whose issuer chose the audience (a token file, a token command):
    # then the token's aud is not checked against --audience.
    requests_audience: bool

    def describe(self) -> str:
        """Non-secret configuration for messages and --debug, e.g. the metadata host."""
        ...

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        """A fresh token for ``audience``; raises gcp2aws errors only, within ``deadline``."""
        ...


def configured(value: str | None, *, forced: bool, flag: str, name: str) -> str | None:
    """``value`` of the flag that configures source ``name``; forcing it without one is an error."""
    if not value and forced:
        raise needs(flag, name)
    return value or None


def needs(flag: str, name: str) -> ConfigError:
    """The error for ``--token-source NAME`` forced without the flag that configures it."""
    return ConfigError(
        f"--token-source {name} needs {flag}", hint=f"Pass {flag}, or drop --token-source"
    )


def default_session_name(token: IdToken) -> str:
    """The instance name when the token has one, else the service account's name, else sub.

    GKE and Cloud Run tokens carry no ``google.compute_engine`` block, so the email's local part
    (``my-sa`` of ``my-sa@project.iam.gserviceaccount.com``) is the portable fallback.
    """
    for candidate in (token.instance_name, token.email.partition("@")[0], token.sub):
        if candidate:
            return sanitize_session_name(candidate)
    return "gcp2aws"
