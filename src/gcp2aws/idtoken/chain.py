"""Pick the Google token source: the forced one, else the first in a fixed order that applies.

Each detector returns ``None`` when its source does not apply here and raises only when the
source applies but is misconfigured (botocore's CredentialResolver does the same). The chain
is consulted only on a cache miss: a hit never probes anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from gcp2aws import paths
from gcp2aws.errors import ConfigError, NoTokenSourceError
from gcp2aws.idtoken import adc_impersonated, gauth, metadata, service_account
from gcp2aws.idtoken.base import TokenSource
from gcp2aws.idtoken.command import CommandSource
from gcp2aws.idtoken.file import FileSource
from gcp2aws.idtoken.impersonate import ImpersonateSource
from gcp2aws.settings import Settings

log = logging.getLogger(__name__)

Detector = Callable[[Settings, Mapping[str, str], bool], "TokenSource | None"]


def _needs(flag: str, name: str) -> ConfigError:
    return ConfigError(
        f"--token-source {name} needs {flag}", hint=f"Pass {flag}, or drop --token-source"
    )


def _command(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    if settings.token_command:
        return CommandSource(settings.token_command, max_seconds=min(30.0, settings.timeout))
    if forced:
        raise _needs("--token-command", "command")
    return None


def _file(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    if settings.token_file:
        return FileSource(settings.token_file)
    if forced:
        raise _needs("--token-file", "file")
    return None


def _impersonate(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    if settings.impersonate_service_account:
        return ImpersonateSource(
            settings.impersonate_service_account,
            delegates=settings.delegates,
            credentials_file=settings.credentials_file,
            environ=environ,
        )
    if forced:
        raise _needs("--impersonate-service-account", "impersonate")
    return None


def _credentials_path(settings: Settings, environ: Mapping[str, str]) -> str | None:
    return paths.google_credentials_file(settings.credentials_file, environ)


def _from_credentials_file(path: str, environ: Mapping[str, str]) -> TokenSource:
    """Dispatch on the file's ``type``; the types that cannot mint ID tokens say what to do."""
    kind = gauth.file_type(path, source="credentials file")
    if kind == service_account.TYPE:
        return service_account.from_file(path, environ)
    if kind == adc_impersonated.TYPE:
        return adc_impersonated.from_file(path, environ)
    raise ConfigError(
        f"credentials file {path} holds {kind} credentials",
        hint=service_account.hint_for_type(kind),
    )


def _service_account_key(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    path = _credentials_path(settings, environ)
    if path is None:
        if forced:
            raise _needs(
                "--credentials-file or GOOGLE_APPLICATION_CREDENTIALS", "service-account-key"
            )
        return None
    if forced:
        return service_account.from_file(path, environ)
    return _from_credentials_file(path, environ)


def _adc_impersonated(
    settings: Settings, environ: Mapping[str, str], forced: bool
) -> TokenSource | None:
    path = _credentials_path(settings, environ)
    if path is None and forced:
        well_known = paths.gcloud_adc_file(environ)
        path = well_known if os.path.isfile(well_known) else None
    if path is None:
        if forced:
            raise _needs("--credentials-file or GOOGLE_APPLICATION_CREDENTIALS", "adc-impersonated")
        return None
    if forced:
        return adc_impersonated.from_file(path, environ)
    return _from_credentials_file(path, environ)


def _metadata(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    return metadata.detect(environ, forced=forced)


# Order matters: explicit configuration first, ambient identity (the metadata server) last.
DETECTORS: dict[str, Detector] = {
    "command": _command,
    "file": _file,
    "impersonate": _impersonate,
    "service-account-key": _service_account_key,
    "adc-impersonated": _adc_impersonated,
    "metadata": _metadata,
}


def _well_known(environ: Mapping[str, str]) -> tuple[TokenSource | None, ConfigError | None]:
    """gcloud's ADC file: a source if it is a key or an impersonation file, else why not.

    google-auth's own order puts this file before the metadata server; user credentials in
    it cannot mint ID tokens, so for those the metadata server still gets its turn.
    """
    path = paths.gcloud_adc_file(environ)
    if not os.path.isfile(path):
        return None, None
    try:
        return _from_credentials_file(path, environ), None
    except ConfigError as exc:
        return None, exc


def select(settings: Settings, environ: Mapping[str, str]) -> TokenSource:
    """The source to use, or ``NoTokenSourceError`` saying why none applies."""
    if settings.token_source != "auto":
        detector = DETECTORS.get(settings.token_source)
        if detector is None:
            raise NoTokenSourceError(
                f"token source {settings.token_source!r} is not available in this build"
            )
        source = detector(settings, environ, True)
        if source is None:
            raise NoTokenSourceError(f"token source {settings.token_source!r} does not apply here")
        log.debug("token source %s (forced): %s", source.name, source.describe())
        return source
    unusable: ConfigError | None = None
    for name, detector in DETECTORS.items():
        if name == "metadata":
            source, unusable = _well_known(environ)
            if source is not None:
                log.debug("token source %s (gcloud ADC file): %s", source.name, source.describe())
                return source
        source = detector(settings, environ, False)
        if source is not None:
            log.debug("token source %s: %s", source.name, source.describe())
            return source
        log.debug("token source %s does not apply", name)
    if unusable is not None:
        path = paths.gcloud_adc_file(environ)
        raise NoTokenSourceError(
            f"not on Google Cloud, and the gcloud credentials in {path} cannot mint ID tokens "
            "for an arbitrary audience",
            hint="Pass --impersonate-service-account EMAIL (a service account you may mint "
            "tokens for), or run `gcloud auth application-default login "
            "--impersonate-service-account EMAIL`",
        ) from unusable
    raise NoTokenSourceError(
        "not on Google Cloud and no credentials found",
        hint="Run `gcloud auth application-default login` and pass "
        "--impersonate-service-account EMAIL, or set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service-account key file",
    )
