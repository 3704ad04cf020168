"""Fault matrix, STS side: throttling, 5xx, IdP errors, denials, bad replies and hangs."""

from __future__ import annotations

from typing import Any

import pytest

from gcp2aws.emulator.faults import Body, Drip, Hang, Reset, Status, StsError
from gcp2aws.errors import ExitCode
from tests.support.faults import (
    ACTION,
    FAILED,
    RETRIED,
    Ctx,
    Row,
    exactly,
    params,
    run_row,
)

GROUP = "STS"
FOREVER = 1000
SLACK = 5.0
# Rows that promise the --timeout itself: process start-up and exit included.
DEADLINE_SLACK = 1.5
VERIFICATION_KEY = (
    "Couldn't retrieve verification key from your identity provider,  please reference "
    "AssumeRoleWithWebIdentity documentation for requirements"
)
REGION_DISABLED = (
    "STS is not activated in this region for account:123456789012. Your account administrator "
    "can activate STS in this region using the IAM Console."
)
XML = {"Content-Type": "text/xml"}
# Cut off in the middle of the Credentials element.
TRUNCATED_XML = (
    b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA"
)


def inject(fault: Any, times: int = 1) -> Any:
    def setup(ctx: Ctx) -> None:
        ctx.sts.inject(fault, times=times, action=ACTION)

    return setup


def throttling() -> StsError:
    return StsError("Throttling", "Rate exceeded", 400)


def unavailable() -> StsError:
    return StsError("ServiceUnavailable", "Service is unavailable", 503, "Receiver")


def idp_error() -> StsError:
    return StsError("IDPCommunicationError", "The identity provider could not be reached", 400)


def expired() -> StsError:
    return StsError("ExpiredTokenException", "Token expired: current date/time is past exp", 400)


ROWS = [
    Row(
        "throttling-once",
        "Throttling (once)",
        "botocore retries it with backoff",
        inject(throttling()),
        RETRIED,
        0,
        8,
        exactly(1),
        exactly(2),
    ),
    Row(
        "throttling-always",
        "Throttling (every call)",
        "botocore attempts sized to the budget, up to 3 fresh-token exchanges, then fails",
        inject(throttling(), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8 + SLACK,
        (1, 3),
        (3, 9),
        args=("--timeout", "8"),
        stderr="Throttling",
    ),
    Row(
        "http-500-once",
        "HTTP 500 (once)",
        "botocore retries it",
        inject(Status(500)),
        RETRIED,
        0,
        8,
        exactly(1),
        exactly(2),
    ),
    Row(
        "http-503-once",
        "HTTP 503 ServiceUnavailable (once)",
        "botocore retries it",
        inject(unavailable()),
        RETRIED,
        0,
        8,
        exactly(1),
        exactly(2),
    ),
    Row(
        "http-503-always",
        "HTTP 503 ServiceUnavailable (every call)",
        "retries within --timeout, then fails",
        inject(unavailable(), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8 + SLACK,
        (1, 3),
        (3, 9),
        args=("--timeout", "8"),
        stderr="ServiceUnavailable",
    ),
    Row(
        "idp-communication-once",
        "IDPCommunicationError (once)",
        "retries it",
        inject(idp_error()),
        RETRIED,
        0,
        8,
        (1, 2),
        exactly(2),
    ),
    Row(
        "idp-communication-always",
        "IDPCommunicationError (every call)",
        "retries within --timeout, then fails",
        inject(idp_error(), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8 + SLACK,
        (1, 3),
        (3, 9),
        args=("--timeout", "8"),
        stderr="IDPCommunicationError",
    ),
    Row(
        "invalid-token-transient",
        "InvalidIdentityToken: couldn't retrieve verification key (once)",
        "retries the exchange with a fresh ID token",
        inject(StsError("InvalidIdentityToken", VERIFICATION_KEY)),
        RETRIED,
        0,
        8,
        exactly(2),
        exactly(2),
    ),
    Row(
        "invalid-token-permanent",
        "InvalidIdentityToken (permanent)",
        "fails at once with the token's aud/azp/sub and a doctor hint",
        inject(StsError("InvalidIdentityToken", "Incorrect token audience"), FOREVER),
        FAILED,
        ExitCode.AWS_DENIED,
        6,
        exactly(1),
        exactly(1),
        stderr="gcp2aws doctor",
    ),
    Row(
        "expired-token-once",
        "ExpiredTokenException (once)",
        "retries once with a fresh ID token",
        inject(expired()),
        RETRIED,
        0,
        8,
        exactly(2),
        exactly(2),
    ),
    Row(
        "expired-token-always",
        "ExpiredTokenException (every call)",
        "3 fresh tokens, then fails with a clock hint",
        inject(expired(), FOREVER),
        FAILED,
        ExitCode.AWS_DENIED,
        8,
        exactly(3),
        exactly(3),
        stderr="clock",
    ),
    Row(
        "access-denied",
        "AccessDenied",
        "fails at once, explaining the trust-policy keys",
        inject(
            StsError(
                "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403
            ),
            FOREVER,
        ),
        FAILED,
        ExitCode.AWS_DENIED,
        6,
        exactly(1),
        exactly(1),
        stderr="trust policy",
    ),
    Row(
        "region-disabled",
        "RegionDisabledException",
        "fails at once, hinting at --region",
        inject(StsError("RegionDisabledException", REGION_DISABLED, 403), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        6,
        exactly(1),
        exactly(1),
        stderr="--region",
    ),
    Row(
        "malformed-xml-once",
        "malformed XML body (once)",
        "retries the exchange",
        inject(Body(200, b"<AssumeRoleWithWebIdentityResponse><oops", XML)),
        RETRIED,
        0,
        8,
        (1, 2),
        exactly(2),
    ),
    Row(
        "malformed-xml-always",
        "malformed XML body (every call)",
        "retries, then fails naming the endpoint",
        inject(Body(200, b"<AssumeRoleWithWebIdentityResponse><oops", XML), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8 + SLACK,
        (1, 3),
        (3, 9),
        args=("--timeout", "8"),
        stderr="malformed response",
    ),
    Row(
        "truncated-once",
        "truncated response: connection reset mid-body (once)",
        "retries",
        inject(Reset()),
        RETRIED,
        0,
        8,
        (1, 2),
        exactly(2),
    ),
    Row(
        "truncated-xml-always",
        "truncated XML document (every call)",
        "retries, then fails naming the endpoint",
        inject(Body(200, TRUNCATED_XML, XML), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8 + SLACK,
        (1, 3),
        (3, 9),
        args=("--timeout", "8"),
    ),
    Row(
        "hang-once",
        "hang (once)",
        "abandons the call after its share of --timeout and retries",
        inject(Hang(30)),
        RETRIED,
        0,
        3 + SLACK,
        exactly(1),
        exactly(2),
        args=("--timeout", "9"),
    ),
    Row(
        "body-5mb",
        "HTTP 200 with a 5 MB body (a real answer is under 4 KiB)",
        "reads at most 1 MiB of it, then fails naming the endpoint",
        inject(Body(200, b"<" * (5 << 20), XML), FOREVER),
        FAILED,
        ExitCode.AWS_ERROR,
        8,
        (1, 3),
        (1, 3),
        stderr="answered with more than 1,048,576 bytes",
    ),
    Row(
        "drip-headers",
        "status line and headers dripped, 1 byte per 200 ms (botocore's read timeout restarts "
        "on every byte)",
        "an alarm bounds the whole call: exit 8 at the --timeout budget",
        inject(Drip(b"x" * 2000, 0.2, headers=True), FOREVER),
        FAILED,
        ExitCode.TIMEOUT,
        6 + DEADLINE_SLACK,
        (1, 3),
        (1, 3),
        args=("--timeout", "6"),
        stderr="no complete answer within",
    ),
    Row(
        "hang-always",
        "hang (every call)",
        "stops at the --timeout budget (6 s here)",
        inject(Hang(30), FOREVER),
        FAILED,
        ExitCode.TIMEOUT,
        6 + SLACK,
        (1, 3),
        (1, 9),
        args=("--timeout", "6"),
        stderr="budget ran out",
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_sts_fault(row: Row, ctx: Ctx) -> None:
    run_row(GROUP, row, ctx)
