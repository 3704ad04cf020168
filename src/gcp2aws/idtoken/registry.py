"""The one list of Google token sources: name, detector, "why not here" and cache-key inputs.

The chain's order, ``--token-source``'s choices, the cache key's ``source`` and inputs, and
the doctor's explanation are all derived from ``SOURCES``. Adding a source is one module with
an ``applies(settings, environ, forced)`` detector plus one line here.

On the cache-hit path (the cache key reads it), so it imports only ``os``-level modules;
detectors are imported by name, on a miss.
"""

from __future__ import annotations

from gcp2aws import envvars, paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from gcp2aws.idtoken.base import TokenSource
    from gcp2aws.settings import Settings

    PathOf = Callable[[Mapping[str, str], Mapping[str, str]], "str | None"]

AUTO = "auto"
AMBIENT = "ambient"  # the cache key's source when only probing can tell (ADC file, metadata)


def _google_credentials(raw: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    return paths.google_credentials_file(raw.get("credentials_file"), environ)


def _gcloud_adc(raw: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    return paths.gcloud_adc_file(environ)


GOOGLE_CREDENTIALS_STAMP = ("stamp.google_credentials", _google_credentials)
GCLOUD_ADC_STAMP = ("stamp.gcloud_adc", _gcloud_adc)


class Source:
    """One token source's record.

    Args:
        name: what ``--token-source`` takes and what travels on its tokens.
        detector: ``"module:function"``, called as ``function(settings, environ, forced)``;
            returns a ``TokenSource`` or None, raises ``ConfigError`` when it applies but is
            broken.
        why_not: the doctor's reason when the detector returns None.
        options: option dests whose presence selects this source (without probing).
        trigger_env: environment variables whose presence selects it, likewise.
        key_env: environment variables that steer it: part of the cache key.
        key_files: (key part, path function) of files whose stamp is part of the cache key.
        key_name: the cache key's ``source`` when configuration selects it.
        choice: whether ``--token-source`` may force it.
        soft: in auto mode a ConfigError is remembered, not raised; later sources get a turn,
            and if none applies the final error says why this one could not.
    """

    __slots__ = (
        "choice",
        "detector",
        "key_env",
        "key_files",
        "key_name",
        "name",
        "options",
        "soft",
        "trigger_env",
        "why_not",
    )

    def __init__(
        self,
        name: str,
        detector: str,
        why_not: str,
        *,
        options: tuple[str, ...] = (),
        trigger_env: tuple[str, ...] = (),
        key_env: tuple[str, ...] = (),
        key_files: tuple[tuple[str, PathOf], ...] = (),
        key_name: str | None = None,
        choice: bool = True,
        soft: bool = False,
    ) -> None:
        self.name = name
        self.detector = detector
        self.why_not = why_not
        self.options = options
        self.trigger_env = trigger_env
        self.key_env = key_env
        self.key_files = key_files
        self.key_name = key_name or name
        self.choice = choice
        self.soft = soft

    def detect(
        self, settings: Settings, environ: Mapping[str, str], forced: bool
    ) -> TokenSource | None:
        import importlib

        module, _, function = self.detector.partition(":")
        found: TokenSource | None = getattr(importlib.import_module(module), function)(
            settings, environ, forced
        )
        return found

    def configured(self, raw: Mapping[str, str], environ: Mapping[str, str]) -> bool:
        return any(o in raw for o in self.options) or any(environ.get(e) for e in self.trigger_env)


_METADATA_ENV = (envvars.GCE_METADATA_HOST, envvars.GCE_METADATA_ROOT, envvars.GCE_METADATA_IP)
_FILE_ENV = (envvars.GOOGLE_APPLICATION_CREDENTIALS, envvars.OAUTH_TOKEN_URI)
_IAM_ENV = (envvars.IAM_CREDENTIALS_ENDPOINT,)
_CREDENTIALS = "gcp2aws.idtoken.credentials_file"

# Order matters: explicit configuration first, ambient identity (the metadata server) last.
SOURCES: list[Source] = [
    Source(
        "command",
        "gcp2aws.idtoken.command:applies",
        "no --token-command",
        options=("token_command",),
    ),
    Source("file", "gcp2aws.idtoken.file:applies", "no --token-file", options=("token_file",)),
    Source(
        "impersonate",
        "gcp2aws.idtoken.impersonate:applies",
        "no --impersonate-service-account",
        options=("impersonate_service_account",),
        # Its caller's credentials come from ADC: a file, gcloud's file or the metadata server.
        key_env=(*_IAM_ENV, *_FILE_ENV, envvars.CLOUDSDK_CONFIG, *_METADATA_ENV),
        key_files=(GOOGLE_CREDENTIALS_STAMP, GCLOUD_ADC_STAMP),
    ),
    Source(
        "service-account-key",
        _CREDENTIALS + ":applies_key",
        "no --credentials-file and GOOGLE_APPLICATION_CREDENTIALS is unset",
        options=("credentials_file",),
        trigger_env=(envvars.GOOGLE_APPLICATION_CREDENTIALS,),
        key_env=_FILE_ENV,
        key_files=(GOOGLE_CREDENTIALS_STAMP,),
        key_name="credentials-file",
    ),
    Source(
        "adc-impersonated",
        _CREDENTIALS + ":applies_adc_impersonated",
        "no --credentials-file and GOOGLE_APPLICATION_CREDENTIALS is unset",
        options=("credentials_file",),
        trigger_env=(envvars.GOOGLE_APPLICATION_CREDENTIALS,),
        key_env=(*_FILE_ENV, *_IAM_ENV),
        key_files=(GOOGLE_CREDENTIALS_STAMP,),
        key_name="credentials-file",
    ),
    # google-auth's own order puts gcloud's ADC file before the metadata server; user
    # credentials in it cannot mint ID tokens, so for those the metadata server still gets
    # its turn (soft). Not a --token-source choice: forcing a file type is what the two
    # credentials-file sources are for.
    Source(
        "gcloud-adc-file",
        _CREDENTIALS + ":applies_gcloud",
        "no gcloud ADC file (gcloud auth application-default login writes one)",
        key_env=(envvars.CLOUDSDK_CONFIG, *_IAM_ENV, envvars.OAUTH_TOKEN_URI),
        key_files=(GCLOUD_ADC_STAMP,),
        choice=False,
        soft=True,
    ),
    Source(
        "metadata",
        "gcp2aws.idtoken.metadata:applies",
        "no metadata server answered (GCE_METADATA_HOST unset, not Google hardware, "
        "nothing at GCE_METADATA_IP)",
        key_env=_METADATA_ENV,
    ),
]


def get(name: str) -> Source | None:
    return next((s for s in SOURCES if s.name == name), None)


def choices() -> tuple[str, ...]:
    """What ``--token-source`` accepts: ``auto`` and every source that may be forced."""
    return (AUTO, *(s.name for s in SOURCES if s.choice))


def configured_source(raw: Mapping[str, str], environ: Mapping[str, str]) -> str:
    """The source the chain will pick, as far as configuration alone decides it.

    The forced one, else the first whose options or trigger variables are set, else
    "ambient" (gcloud's ADC file or the metadata server: only probing can tell).
    """
    forced = raw.get("token_source", AUTO)
    if forced != AUTO:
        return forced
    return next((s.key_name for s in SOURCES if s.configured(raw, environ)), AMBIENT)


def key_env() -> tuple[str, ...]:
    """Every environment variable that steers a token source, once each, in order."""
    return tuple(dict.fromkeys(name for s in SOURCES for name in s.key_env))


def key_files(raw: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Key part -> path of every file a source reads (when it has a path here)."""
    out: dict[str, str] = {}
    for source in SOURCES:
        for part, path_of in source.key_files:
            if part not in out:
                path = path_of(raw, environ)
                if path:
                    out[part] = path
    return out
