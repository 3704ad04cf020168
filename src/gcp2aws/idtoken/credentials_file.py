"""The Google credentials-file sources: a key file, an impersonation ADC file, gcloud's file.

One file can hold either kind, so in auto mode both dispatch on the file's ``type``; the
types that cannot mint ID tokens say what to do instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from gcp2aws import paths
from gcp2aws.errors import ConfigError
from gcp2aws.idtoken import adc_impersonated, gauth, service_account
from gcp2aws.idtoken.base import TokenSource, needs
from gcp2aws.settings import Settings

EXPLICIT = "--credentials-file or GOOGLE_APPLICATION_CREDENTIALS"


def from_file(path: str, environ: Mapping[str, str]) -> TokenSource:
    """The source for the file's ``type``; ConfigError for the types that cannot mint."""
    kind = gauth.file_type(path, source="credentials file")
    if kind == service_account.TYPE:
        return service_account.from_file(path, environ)
    if kind == adc_impersonated.TYPE:
        return adc_impersonated.from_file(path, environ)
    raise ConfigError(
        f"credentials file {path} holds {kind} credentials",
        hint=service_account.hint_for_type(kind),
    )


def applies_key(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    path = paths.google_credentials_file(settings.credentials_file, environ)
    if path is None:
        if forced:
            raise needs(EXPLICIT, service_account.NAME)
        return None
    return service_account.from_file(path, environ) if forced else from_file(path, environ)


def applies_adc_impersonated(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    path = paths.google_credentials_file(settings.credentials_file, environ)
    if path is None and forced:
        well_known = paths.gcloud_adc_file(environ)
        path = well_known if os.path.isfile(well_known) else None
    if path is None:
        if forced:
            raise needs(EXPLICIT, adc_impersonated.NAME)
        return None
    return adc_impersonated.from_file(path, environ) if forced else from_file(path, environ)


def applies_gcloud(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    """gcloud's ADC file, if it holds a key or an impersonation file (ConfigError if not)."""
    path = paths.gcloud_adc_file(environ)
    return from_file(path, environ) if os.path.isfile(path) else None
