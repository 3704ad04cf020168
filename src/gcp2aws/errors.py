"""The one error hierarchy of gcp2aws: every failure carries a message, a hint and an exit code.

Library code raises these (wrapping lower-level exceptions with ``raise ... from exc``);
``gcp2aws.cli.app`` is the one place that renders them and maps them to exit codes.
Messages must never contain a secret, a session token or an ID token.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, one per class of failure (documented in the README)."""

    OK = 0
    INTERNAL = 1  # a bug in gcp2aws: please report it
    USAGE = 2  # bad flag or value (argparse uses 2 as well)
    CONFIG = 3  # no usable token source, bad credentials file, bad local config
    TOKEN_UNAVAILABLE = 4  # the Google side did not give us a token
    TOKEN_INVALID = 5  # we got something, but it is not a usable ID token
    AWS_DENIED = 6  # STS refused the token: trust policy, claims, role
    AWS_ERROR = 7  # STS failed otherwise: throttled, down, malformed reply, region disabled
    TIMEOUT = 8  # the overall deadline ran out
    CHECK_FAILED = 9  # `doctor` found a failing check
    NOT_EXECUTABLE = 126  # `exec`: the command exists but cannot be run (as shells return)
    COMMAND_NOT_FOUND = 127  # `exec`: no such command (as shells return)
    INTERRUPTED = 130  # SIGINT


class Gcp2AwsError(Exception):
    """Base class. ``str(err)`` is the one-line message; ``hint`` says what to do.

    ``transient`` says whether trying again (with a fresh token) may succeed.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint = ""

    def __init__(
        self, message: str, *, hint: str | None = None, transient: bool = False, **fields: object
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint
        self.transient = transient
        self.fields = fields

    def one_line(self) -> str:
        """Message and hint on one line, as the CLI prints it."""
        text = self.message.rstrip(". ")
        if self.hint:
            text = f"{text}. {self.hint}"
        return " ".join(text.split())


class UsageError(Gcp2AwsError):
    """A flag or value is invalid; detected before any network call."""

    exit_code = ExitCode.USAGE


class ConfigError(Gcp2AwsError):
    """Local configuration is missing or broken (credentials file, token source, config file)."""

    exit_code = ExitCode.CONFIG


class NoTokenSourceError(ConfigError):
    """No token source applies in this environment."""

    default_hint = (
        "On Google Cloud, check that the instance has a service account; elsewhere run "
        "`gcloud auth application-default login` and pass --impersonate-service-account EMAIL, "
        "or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
    )


class TokenUnavailableError(Gcp2AwsError):
    """The token source applies but did not give us a token."""

    exit_code = ExitCode.TOKEN_UNAVAILABLE


class TokenInvalidError(Gcp2AwsError):
    """What the source returned is not a usable ID token (not a JWT, expired, wrong audience)."""

    exit_code = ExitCode.TOKEN_INVALID


class StsError(Gcp2AwsError):
    """STS failed in a way that is not a denial."""

    exit_code = ExitCode.AWS_ERROR

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str = "",
        transient: bool = False,
        **fields: object,
    ) -> None:
        super().__init__(message, hint=hint, transient=transient, **fields)
        self.code = code


class StsDeniedError(StsError):
    """STS refused the identity: AccessDenied, IDPRejectedClaim, permanent InvalidIdentityToken."""

    exit_code = ExitCode.AWS_DENIED


class DeadlineExceededError(Gcp2AwsError):
    """The overall time budget (--timeout) ran out while retrying."""

    exit_code = ExitCode.TIMEOUT
    default_hint = "Raise --timeout (GCP2AWS_TIMEOUT) or check network access to the endpoint"


class CommandError(Gcp2AwsError):
    """``exec`` could not start the command; exits as a shell would."""

    exit_code = ExitCode.NOT_EXECUTABLE


class CommandNotFoundError(CommandError):
    exit_code = ExitCode.COMMAND_NOT_FOUND
