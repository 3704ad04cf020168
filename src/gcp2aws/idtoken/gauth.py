"""Glue to google-auth: an HTTP transport bound to a Deadline, credentials files, error mapping.

google-auth is imported inside functions only (it costs ~140 ms): nothing here runs on a
cache hit. HTTP goes through google-auth's urllib3 transport over a pool of our own, because
urllib3 is already installed with botocore while ``requests`` is not a dependency of gcp2aws.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gcp2aws import envvars
from gcp2aws.boundedread import CONFIG_LIMIT, read_regular
from gcp2aws.errors import ConfigError, DeadlineExceededError, TokenUnavailableError
from gcp2aws.retry import Deadline, alarm

if TYPE_CHECKING:
    import urllib3

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ATTEMPT_TIMEOUT = 10.0
LOGIN_HINT = "run `gcloud auth application-default login` again"


MAX_BODY = 1 << 20  # Google's token answers are a few KiB


class DeadlinePool:
    """The ``request`` interface google-auth's urllib3 transport calls, clipped to a Deadline.

    Proxies follow HTTPS_PROXY / NO_PROXY from ``environ`` (urllib3 alone ignores them), and
    urllib3's own retries are off: google-auth and we retry where it is safe.
    """

    def __init__(self, deadline: Deadline, environ: Mapping[str, str]) -> None:
        import urllib3

        self.deadline = deadline
        self.environ = environ
        self._direct = urllib3.PoolManager(retries=False)
        self._proxied: dict[str, urllib3.ProxyManager] = {}

    def _proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        env = self.environ
        names = (
            ("https_proxy", "HTTPS_PROXY")
            if parts.scheme == "https"
            else ("http_proxy", "HTTP_PROXY")
        )
        proxy = next((env[n] for n in names if env.get(n)), None)
        if proxy is None:
            return None
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        host = parts.hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return None
        for entry in (e.strip().lstrip(".") for e in no_proxy.split(",")):
            if entry == "*" or (entry and (host == entry or host.endswith("." + entry))):
                return None
        return proxy

    def _pool(self, url: str) -> urllib3.PoolManager:
        import urllib3

        proxy = self._proxy_for(url)
        if proxy is None:
            return self._direct
        if proxy not in self._proxied:
            self._proxied[proxy] = urllib3.ProxyManager(proxy, retries=False)
        return self._proxied[proxy]

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        import urllib3

        if self.deadline.expired():
            raise DeadlineExceededError(
                f"no time left for {method} {urlsplit(url).netloc}: gave up after "
                f"{self.deadline.seconds:g}s"
            )
        kwargs["timeout"] = urllib3.Timeout(total=self.deadline.clip(ATTEMPT_TIMEOUT))
        kwargs.setdefault("retries", False)
        kwargs["preload_content"] = False  # read below, up to MAX_BODY
        where = f"{method} {urlsplit(url).netloc}"
        # urllib3's timeouts restart on every byte: bound the whole exchange from outside.
        with alarm(self.deadline, where):
            response = self._pool(url).request(method, url, **kwargs)
            try:
                body = response.read(MAX_BODY + 1)
            finally:
                response.release_conn()
        if len(body) > MAX_BODY:
            raise TokenUnavailableError(
                f"{where} answered with more than {MAX_BODY:,} bytes",
                hint="Check the Google endpoint settings and any proxy in between",
            )
        return urllib3.HTTPResponse(  # a file body: b"" must stay b"", not become None
            body=io.BytesIO(body),
            headers=response.headers,
            status=response.status,
            preload_content=True,
        )

    def close(self) -> None:
        self._direct.clear()
        for pool in self._proxied.values():
            pool.clear()


def google_request(pool: DeadlinePool) -> Any:
    """A ``google.auth.transport.Request`` that sends through ``pool``."""
    from google.auth.transport.urllib3 import Request

    return Request(pool)  # type: ignore[no-untyped-call]


# -- credentials files ---------------------------------------------------------------------


def read_info(path: str, *, source: str) -> dict[str, Any]:
    """The JSON object in a Google credentials file, with a ``type``; ConfigError otherwise."""
    try:
        info = json.loads(read_regular(path, CONFIG_LIMIT).decode("utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{source}: credentials file {path} does not exist",
            hint="Fix --credentials-file / GOOGLE_APPLICATION_CREDENTIALS, or unset it",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read credentials file {path}: {exc.strerror or exc}",
            hint="Check the file's permissions",
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{source}: credentials file {path} is not JSON",
            hint="Point GOOGLE_APPLICATION_CREDENTIALS at a key file or an ADC file from gcloud",
        ) from exc
    if not isinstance(info, dict) or not isinstance(info.get("type"), str):
        raise ConfigError(
            f"{source}: credentials file {path} has no 'type' field",
            hint="Point GOOGLE_APPLICATION_CREDENTIALS at a key file or an ADC file from gcloud",
        )
    return info


def read_info_of_type(path: str, kind: str, *, source: str) -> dict[str, Any]:
    """``read_info`` for a file that must hold ``kind`` credentials; ConfigError otherwise."""
    info = read_info(path, source=source)
    if info["type"] != kind:
        raise ConfigError(
            f"{source}: credentials file {path} is of type {info['type']}, not {kind}",
            hint=hint_for_type(str(info["type"])),
        )
    return info


def hint_for_type(kind: str) -> str:
    """What to do with a credentials file of ``kind`` when an ID token is needed."""
    if kind in ("authorized_user", "external_account", "external_account_authorized_user"):
        return (
            f"{kind} credentials cannot mint ID tokens for an arbitrary audience: pass "
            "--impersonate-service-account EMAIL to mint them as a service account"
        )
    if kind == "impersonated_service_account":
        return "Use --token-source adc-impersonated (or auto) for this file"
    return "Use a service_account key file, or --impersonate-service-account EMAIL"


def file_type(path: str, *, source: str) -> str:
    return str(read_info(path, source=source)["type"])


def load_credentials(
    info: Mapping[str, Any], *, path: str, source: str, environ: Mapping[str, str]
) -> Any:
    """google-auth credentials with the cloud-platform scope for a credentials-file dict.

    GCP2AWS_OAUTH_TOKEN_URI replaces the OAuth token endpoint: google-auth pins it to
    oauth2.googleapis.com for ``authorized_user`` files whatever the file says.
    """
    import google.auth
    from google.auth import exceptions

    try:
        creds, _project = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
            dict(info), scopes=[CLOUD_PLATFORM_SCOPE]
        )
    except (exceptions.GoogleAuthError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{source}: cannot load the {info.get('type')} credentials in {path}: "
            f"{_first_line(exc)}",
            hint="Regenerate the file (gcloud auth application-default login, or a new key)",
        ) from exc
    token_uri = environ.get(envvars.OAUTH_TOKEN_URI)
    if token_uri and hasattr(creds, "with_token_uri"):
        creds = creds.with_token_uri(token_uri)
    return creds


# -- errors --------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    text = str(arg).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line[:200]


def map_error(exc: BaseException, *, source: str, what: str) -> Exception:
    """A gcp2aws error for a google-auth failure during ``what`` (never echoes a credential)."""
    from google.auth import exceptions

    if isinstance(exc, exceptions.TransportError):
        return TokenUnavailableError(
            f"{source}: {what} failed: cannot reach Google ({_first_line(exc)})",
            hint="Check network access and proxy settings (HTTPS_PROXY, NO_PROXY)",
            transient=True,
        )
    if isinstance(exc, exceptions.RefreshError):
        detail = _first_line(exc)
        if "invalid_grant" in detail or "invalid_client" in detail:
            hint = (
                "The refresh token was revoked or the key was deleted or disabled: "
                + LOGIN_HINT
                + ", or create a new key"
            )
        elif "reauth" in detail.lower():
            hint = "Your session needs reauthentication: " + LOGIN_HINT
        else:
            hint = "Check the credentials file and the account's status"
        return TokenUnavailableError(
            f"{source}: {what} failed: Google refused the credentials ({detail})",
            hint=hint,
            transient=bool(getattr(exc, "retryable", False)),
        )
    return TokenUnavailableError(
        f"{source}: {what} failed: {type(exc).__name__}: {_first_line(exc)}",
        hint="Re-run with --debug for details",
    )


def refresh(creds: Any, pool: DeadlinePool, *, source: str, what: str) -> None:
    """``creds.refresh`` through ``pool``, with google-auth errors mapped to ours."""
    from google.auth import exceptions

    try:
        creds.refresh(google_request(pool))
    except exceptions.GoogleAuthError as exc:
        raise map_error(exc, source=source, what=what) from exc
    # Malformed replies surface as these in google-auth: a 200 that is not JSON (a captive
    # portal, a wrong GCP2AWS_OAUTH_TOKEN_URI) is indexed as a str and raises TypeError.
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenUnavailableError(
            f"{source}: {what} failed: unexpected answer from Google ({type(exc).__name__})"
        ) from exc
