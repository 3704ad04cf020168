"""Pick the Google token source: the forced one, else the first in the registry's order that
applies, and explain the choice (why each earlier source does not apply) for the doctor.

Each detector returns ``None`` when its source does not apply here and raises only when the
source applies but is misconfigured (botocore's CredentialResolver does the same). The chain
is consulted only on a cache miss: a hit never probes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from gcp2aws import paths
from gcp2aws.errors import ConfigError, Gcp2AwsError, NoTokenSourceError
from gcp2aws.idtoken import registry
from gcp2aws.idtoken.base import TokenSource
from gcp2aws.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Explanation:
    """The chosen source, or the error saying why none; ``notes`` say why others did not."""

    source: TokenSource | None
    notes: list[str] = field(default_factory=list)
    error: Gcp2AwsError | None = None
    broken: bool = False  # the error is a source that applies but is misconfigured


def explain(settings: Settings, environ: Mapping[str, str]) -> Explanation:
    """Walk the registry as ``select`` does, keeping why each skipped source does not apply."""
    forced = settings.token_source != registry.AUTO
    candidates = (
        [s for s in registry.SOURCES if s.choice and s.name == settings.token_source]
        if forced
        else registry.SOURCES
    )
    if forced and not candidates:
        error = NoTokenSourceError(
            f"token source {settings.token_source!r} is not available in this build"
        )
        return Explanation(None, error=error)
    notes: list[str] = []
    unusable: ConfigError | None = None
    for entry in candidates:
        try:
            source = entry.detect(settings, environ, forced)
        except ConfigError as exc:
            if entry.soft and not forced:
                log.debug("token source %s cannot be used: %s", entry.name, exc.message)
                unusable = exc
                notes.append(f"{entry.name}: {exc.one_line()}")
                continue
            notes.append(f"{entry.name}: applies but is broken ({exc.one_line()})")
            return Explanation(None, notes, exc, broken=True)
        except Gcp2AwsError as exc:
            notes.append(f"{entry.name}: applies but is broken ({exc.one_line()})")
            return Explanation(None, notes, exc, broken=True)
        if source is not None:
            how = " (forced)" if forced else ""
            log.debug("token source %s%s: %s", source.name, how, source.describe())
            return Explanation(source, notes)
        log.debug("token source %s does not apply", entry.name)
        notes.append(f"{entry.name}: {entry.why_not}")
    return Explanation(None, notes, _none_applies(settings, environ, unusable))


def _none_applies(
    settings: Settings, environ: Mapping[str, str], unusable: ConfigError | None
) -> NoTokenSourceError:
    if settings.token_source != registry.AUTO:
        return NoTokenSourceError(f"token source {settings.token_source!r} does not apply here")
    if unusable is not None:
        error = NoTokenSourceError(
            f"not on Google Cloud, and the gcloud credentials in {paths.gcloud_adc_file(environ)} "
            "cannot mint ID tokens for an arbitrary audience",
            hint="Pass --impersonate-service-account EMAIL (a service account you may mint "
            "tokens for), or run `gcloud auth application-default login "
            "--impersonate-service-account EMAIL`",
        )
        error.__cause__ = unusable
        return error
    return NoTokenSourceError(
        "not on Google Cloud and no credentials found",
        hint="Run `gcloud auth application-default login` and pass "
        "--impersonate-service-account EMAIL, or set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service-account key file",
    )


def select(settings: Settings, environ: Mapping[str, str]) -> TokenSource:
    """The source to use, or the error saying why none applies (or which one is broken)."""
    found = explain(settings, environ)
    if found.source is None:
        assert found.error is not None  # noqa: S101 - explain sets one or the other
        raise found.error
    return found.source
