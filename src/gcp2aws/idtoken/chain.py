"""Pick the Google token source: the forced one, else the first in a fixed order that applies.

Each detector returns ``None`` when its source does not apply here and raises only when the
source applies but is misconfigured (botocore's CredentialResolver does the same). The chain
is consulted only on a cache miss: a hit never probes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from gcp2aws.errors import NoTokenSourceError
from gcp2aws.idtoken import metadata
from gcp2aws.idtoken.base import TokenSource
from gcp2aws.settings import Settings

log = logging.getLogger(__name__)

Detector = Callable[[Settings, Mapping[str, str], bool], "TokenSource | None"]


def _metadata(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    return metadata.detect(environ, forced=forced)


# Order matters: explicit configuration first, ambient identity (the metadata server) last.
DETECTORS: dict[str, Detector] = {
    "metadata": _metadata,
}


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
    for name, detector in DETECTORS.items():
        source = detector(settings, environ, False)
        if source is not None:
            log.debug("token source %s: %s", name, source.describe())
            return source
        log.debug("token source %s does not apply", name)
    raise NoTokenSourceError("not on Google Cloud and no Google credentials found")
