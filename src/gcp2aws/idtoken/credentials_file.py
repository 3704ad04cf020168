"""The Google credentials-file sources: a key file, an impersonation ADC file, gcloud's file.

One file can hold either kind, so in auto mode both dispatch on the file's ``type``; the
types that cannot mint ID tokens say what to do instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from gcp2aws import paths
from gcp2aws.errors import ConfigError
from gcp2aws.idtoken import adc_impersonated, gauth, service_account
from gcp2aws.idtoken.base import TokenSource, needs
from gcp2aws.settings import Settings

EXPLICIT = "--credentials-file or GOOGLE_APPLICATION_CREDENTIALS"
FromFile = Callable[[str, Mapping[str, str]], TokenSource]


def from_file(path: str, environ: Mapping[str, str]) -> TokenSource:
    """The source for the file's ``type``; ConfigError for the types that cannot mint."""
    kind = gauth.file_type(path, source="credentials file")
    if kind == service_account.TYPE:
        return service_account.from_file(path, environ)
    if kind == adc_impersonated.TYPE:
        return adc_impersonated.from_file(path, environ)
    raise ConfigError(
        f"credentials file {path} holds {kind} credentials",
        hint=gauth.hint_for_type(kind),
    )


def _applies(
    settings: Settings, environ: Mapping[str, str], forced: bool, *, name: str, kind: FromFile
) -> TokenSource | None:
    """Auto: whatever the file holds; forced: it must hold ``kind``."""
    path = paths.google_credentials_file(settings.credentials_file, environ)
    if path is None and forced and name == adc_impersonated.NAME:
        # gcloud writes the impersonation file there: forcing the source means "that file".
        well_known = paths.gcloud_adc_file(environ)
        path = well_known if os.path.isfile(well_known) else None
    if path is None:
        if forced:
            raise needs(EXPLICIT, name)
        return None
    return kind(path, environ) if forced else from_file(path, environ)


def applies_key(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    return _applies(
        settings, environ, forced, name=service_account.NAME, kind=service_account.from_file
    )


def applies_adc_impersonated(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    return _applies(
        settings, environ, forced, name=adc_impersonated.NAME, kind=adc_impersonated.from_file
    )


def applies_gcloud(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    """gcloud's ADC file, if it holds a key or an impersonation file (ConfigError if not)."""
    path = paths.gcloud_adc_file(environ)
    return from_file(path, environ) if os.path.isfile(path) else None
