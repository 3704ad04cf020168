"""Credentials as environment variables: which names, a child's environment, and shell quoting.

One renderer per format (``sh``, ``fish``, ``powershell``, ``dotenv``, ``json``). Each quotes
so that the shell or parser that reads it gets back exactly the value we wrote, whatever the
value holds; the tests evaluate the output with the real shells.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping

from gcp2aws import envvars
from gcp2aws.errors import UsageError
from gcp2aws.formats import rfc3339
from gcp2aws.models import AwsCredentials

FORMATS = ("sh", "fish", "powershell", "dotenv", "json")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Values made only of these need no quoting in any format (every real AWS value qualifies).
_PLAIN = re.compile(r"[A-Za-z0-9_./+=:@,%-]+")
# PowerShell treats the typographic single quotes as quote characters too.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def credential_vars(creds: AwsCredentials, region: str | None = None) -> dict[str, str]:
    """The variables that hand ``creds`` to an AWS SDK or CLI, in a stable order."""
    out = {
        envvars.AWS_ACCESS_KEY_ID: creds.access_key_id,
        envvars.AWS_SECRET_ACCESS_KEY: creds.secret_access_key,
        envvars.AWS_SESSION_TOKEN: creds.session_token,
        envvars.AWS_CREDENTIAL_EXPIRATION: rfc3339(creds.expiration),
    }
    if creds.account_id:
        # botocore (2025 on), the JS and Java SDKs read it for account-based endpoints.
        out[envvars.AWS_ACCOUNT_ID] = creds.account_id
    if region:
        out.update(region_vars(region))
    return out


def region_vars(region: str) -> dict[str, str]:
    """Both names: the CLI v1 and older SDKs read only AWS_DEFAULT_REGION."""
    return {envvars.AWS_REGION: region, envvars.AWS_DEFAULT_REGION: region}


def is_conflicting(name: str) -> bool:
    """True for variables that would override the credentials we hand a child process."""
    return name in envvars.CONFLICTING_FOR_CHILD or name.startswith(
        envvars.CONFLICTING_PREFIXES_FOR_CHILD
    )


def child_environ(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the conflicting variables, plus ``extra`` (which wins)."""
    env = {k: v for k, v in base.items() if not is_conflicting(k)}
    env.update(extra)
    return env


# -- quoting -----------------------------------------------------------------------------------
def quote_sh(value: str) -> str:
    """POSIX single quotes: nothing inside is special; a quote is closed, escaped, reopened."""
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    """fish single quotes: only backslash and the quote itself are escapes inside them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_powershell(value: str) -> str:
    """PowerShell verbatim string: every single-quote character (typographic ones too) doubled."""
    out = [c + c if c in _PS_QUOTES else c for c in value]
    return "'" + "".join(out) + "'"


def quote_dotenv(value: str, name: str = "value") -> str:
    """Unquoted when plain (so ``docker run --env-file`` reads it too), else double quotes.

    In double quotes python-dotenv and Docker Compose decode ``\\\\``, ``\\"``, ``\\n``, ``\\r``
    and ``\\t``. Both expand ``$`` references and neither has an escape for ``$`` that the
    other understands, so a value with ``$`` is refused rather than silently changed.
    """
    if _PLAIN.fullmatch(value):
        return value
    if "$" in value:
        raise UsageError(
            f"{name} contains '$', which dotenv readers expand",
            hint="Use --format sh or --format json for this value",
        )
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


# -- rendering ---------------------------------------------------------------------------------
def _check_names(names: Iterable[str]) -> None:
    for name in names:
        if not _NAME.fullmatch(name):
            raise UsageError(f"invalid environment variable name {name!r}")


def _lines(variables: Mapping[str, str], line: Callable[[str, str], str]) -> str:
    return "".join(line(name, value) + "\n" for name, value in variables.items())


def render(variables: Mapping[str, str], fmt: str) -> str:
    """``variables`` as text for the given format; ends with a newline."""
    _check_names(variables)
    for name, value in variables.items():
        if "\0" in value:
            raise UsageError(f"{name} contains a NUL byte, which no environment can hold")
    if fmt == "sh":
        return _lines(variables, lambda n, v: f"export {n}={quote_sh(v)}")
    if fmt == "fish":
        return _lines(variables, lambda n, v: f"set -gx {n} {quote_fish(v)}")
    if fmt == "powershell":
        return _lines(variables, lambda n, v: f"$Env:{n} = {quote_powershell(v)}")
    if fmt == "dotenv":
        return _lines(variables, lambda n, v: f"{n}={quote_dotenv(v, n)}")
    if fmt == "json":
        return json.dumps(dict(variables), indent=2) + "\n"
    raise UsageError(f"unknown format {fmt!r}", hint="Choose one of: " + ", ".join(FORMATS))
