"""Unit tests for gcp2aws.errors: exit codes, one-line rendering, structured fields."""

from __future__ import annotations

import pytest

from gcp2aws import errors
from gcp2aws.errors import ExitCode


def test_exit_codes_are_stable() -> None:
    # Documented in the README: scripts branch on these numbers.
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "INTERNAL": 1,
        "USAGE": 2,
        "CONFIG": 3,
        "TOKEN_UNAVAILABLE": 4,
        "TOKEN_INVALID": 5,
        "AWS_DENIED": 6,
        "AWS_ERROR": 7,
        "TIMEOUT": 8,
        "CHECK_FAILED": 9,
        "NOT_EXECUTABLE": 126,
        "COMMAND_NOT_FOUND": 127,
        "INTERRUPTED": 130,
    }


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.Gcp2AwsError, ExitCode.INTERNAL),
        (errors.UsageError, ExitCode.USAGE),
        (errors.ConfigError, ExitCode.CONFIG),
        (errors.NoTokenSourceError, ExitCode.CONFIG),
        (errors.TokenUnavailableError, ExitCode.TOKEN_UNAVAILABLE),
        (errors.TokenInvalidError, ExitCode.TOKEN_INVALID),
        (errors.StsError, ExitCode.AWS_ERROR),
        (errors.StsDeniedError, ExitCode.AWS_DENIED),
        (errors.DeadlineExceededError, ExitCode.TIMEOUT),
        (errors.CommandError, ExitCode.NOT_EXECUTABLE),
        (errors.CommandNotFoundError, ExitCode.COMMAND_NOT_FOUND),
    ],
)
def test_exit_code_per_class(cls: type[errors.Gcp2AwsError], code: ExitCode) -> None:
    assert cls("x").exit_code == code


def test_hierarchy() -> None:
    assert issubclass(errors.StsDeniedError, errors.StsError)
    assert issubclass(errors.NoTokenSourceError, errors.ConfigError)
    for cls in (errors.UsageError, errors.TokenInvalidError, errors.DeadlineExceededError):
        assert issubclass(cls, errors.Gcp2AwsError)


def test_one_line_joins_message_and_hint() -> None:
    err = errors.UsageError("bad value.", hint="Pass a good\n  one")
    assert err.one_line() == "bad value. Pass a good one"
    assert str(err) == "bad value."
    assert "\n" not in err.one_line()


def test_one_line_without_hint() -> None:
    assert errors.UsageError("only the message").one_line() == "only the message"


def test_default_hints() -> None:
    assert "--impersonate-service-account" in errors.NoTokenSourceError("none").one_line()
    assert "--timeout" in errors.DeadlineExceededError("slow").one_line()
    # An explicit empty hint overrides the default.
    assert errors.DeadlineExceededError("slow", hint="").one_line() == "slow"


def test_structured_fields() -> None:
    err = errors.StsError("throttled", code="Throttling", transient=True, role="r")
    assert (err.code, err.transient, err.fields) == ("Throttling", True, {"role": "r"})
    denied = errors.StsDeniedError("no", code="AccessDenied")
    assert (denied.code, denied.transient) == ("AccessDenied", False)
    unavailable = errors.TokenUnavailableError("503", transient=True)
    assert unavailable.transient is True
    assert errors.TokenUnavailableError("404").transient is False
