"""Every file location gcp2aws reads or writes, computed from one environment mapping.

``~`` expands to the given environment's ``HOME`` (botocore expands the AWS config path with
``os.path.expanduser``; the given mapping wins so that tests and the library's ``environ=``
argument decide it, not the process). On the cache-hit path: imports only ``os``.
"""

from __future__ import annotations

import os

from gcp2aws import envvars

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

ADC_FILE_NAME = "application_default_credentials.json"


def home(environ: Mapping[str, str]) -> str:
    """``HOME`` from ``environ``, else the password database's (what ``~`` means)."""
    return environ.get(envvars.HOME) or os.path.expanduser("~")


def expand_user(path: str, environ: Mapping[str, str]) -> str:
    """``~`` and ``~/...`` against ``environ``'s HOME; ``~user`` as the OS knows it."""
    if path == "~" or path.startswith("~/"):
        return home(environ) + path[1:]
    return os.path.expanduser(path)


def expand_vars(path: str, environ: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from ``environ`` (unknown names stay), as botocore does."""
    if "$" not in path:
        return path
    import re  # only for paths that use variables: keeps ``re`` off the hot path

    return re.sub(
        r"\$(?:(\w+)|\{([^}]*)\})",
        lambda m: environ.get(m.group(1) or m.group(2), m.group()),
        path,
    )


def aws_config_file(environ: Mapping[str, str]) -> str:
    """``AWS_CONFIG_FILE`` with variables and ``~`` expanded, else ``~/.aws/config``."""
    raw = environ.get(envvars.AWS_CONFIG_FILE) or "~/.aws/config"
    return expand_user(expand_vars(raw, environ), environ)


def aws_credentials_file(environ: Mapping[str, str]) -> str:
    """``AWS_SHARED_CREDENTIALS_FILE`` with ``~`` expanded, else ``~/.aws/credentials``."""
    raw = environ.get(envvars.AWS_SHARED_CREDENTIALS_FILE) or "~/.aws/credentials"
    return expand_user(expand_vars(raw, environ), environ)


def google_credentials_file(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    """``--credentials-file`` else GOOGLE_APPLICATION_CREDENTIALS (None when neither is set)."""
    path = explicit or environ.get(envvars.GOOGLE_APPLICATION_CREDENTIALS)
    return expand_user(path, environ) if path else None


def gcloud_adc_file(environ: Mapping[str, str]) -> str:
    """Where ``gcloud auth application-default login`` writes its credentials."""
    config = environ.get(envvars.CLOUDSDK_CONFIG) or os.path.join(
        home(environ), ".config", "gcloud"
    )
    return os.path.join(config, ADC_FILE_NAME)


def cache_dir(explicit: str | None, environ: Mapping[str, str]) -> str:
    """``--cache-dir`` / GCP2AWS_CACHE_DIR, else ``$XDG_CACHE_HOME/gcp2aws``, else ~/.cache."""
    if explicit:
        return os.path.abspath(expand_user(explicit, environ))
    xdg = environ.get(envvars.XDG_CACHE_HOME)
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "gcp2aws")
    return os.path.join(home(environ), ".cache", "gcp2aws")
