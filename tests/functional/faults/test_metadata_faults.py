"""Fault matrix, metadata server side: every way the token endpoint can fail, end to end."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from gcp2aws.emulator.faults import Body, Drip, Hang, Reset, Status, Token
from gcp2aws.errors import ExitCode
from tests.support.faults import FAILED, OK, RETRIED, Ctx, Row, exactly, params, run_row

GROUP = "metadata server"
FLAVOR = {"Metadata-Flavor": "Google", "Content-Type": "text/html; charset=UTF-8"}
HTML = b"<!DOCTYPE html>\n<html><title>Error</title><p>Something went wrong</p></html>\n"
FOREVER = 1000  # a fault repeated more often than any client retries

# An attempt is bounded by 3 s (the per-attempt timeout); the rows pass a small --timeout so a
# hang costs seconds, and bound the whole process at that budget plus 5 s of slack.
SLACK = 5.0
# Rows that promise the --timeout itself: process start-up and exit included.
DEADLINE_SLACK = 1.5


def inject(fault: Any, times: int = 1) -> Any:
    def setup(ctx: Ctx) -> None:
        ctx.metadata.inject(fault, times=times)

    return setup


def claims(**offsets: int) -> Any:
    """Serve a token whose time claims are now + the given offsets (computed at setup)."""

    def setup(ctx: Ctx) -> None:
        now = int(time.time())
        ctx.metadata.inject(Token({name: now + delta for name, delta in offsets.items()}))

    return setup


def wrong_audience(ctx: Ctx) -> None:
    ctx.metadata.inject(Token({"aud": "https://example.com/another-audience"}))


def closed_port(ctx: Ctx) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx.env["GCE_METADATA_HOST"] = f"127.0.0.1:{port}"


def no_service_account(ctx: Ctx) -> None:
    ctx.metadata.has_service_account = False


ROWS = [
    Row(
        "http-500-once",
        "HTTP 500 (once)",
        "retries with jittered backoff",
        inject(Status(500)),
        RETRIED,
        0,
        8,
        exactly(2),
        exactly(1),
    ),
    Row(
        "http-503-twice",
        "HTTP 503 (twice)",
        "retries with jittered backoff",
        inject(Status(503), times=2),
        RETRIED,
        0,
        8,
        exactly(3),
        exactly(1),
    ),
    Row(
        "http-429-once",
        "HTTP 429 (once)",
        "retries with jittered backoff",
        inject(Status(429)),
        RETRIED,
        0,
        8,
        exactly(2),
        exactly(1),
    ),
    Row(
        "http-503-always",
        "HTTP 503 (every attempt)",
        "gives up after 5 attempts (about 1.5 s of backoff)",
        inject(Status(503), FOREVER),
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6 + SLACK,
        exactly(5),
        exactly(0),
        args=("--timeout", "6"),
        stderr="after 5 attempts (HTTP 503)",
    ),
    Row(
        "connection-refused",
        "connection refused",
        "retries, then fails with a hint about GCE_METADATA_HOST",
        closed_port,
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6 + SLACK,
        exactly(0),
        exactly(0),
        args=("--timeout", "6"),
        stderr="connection refused",
    ),
    Row(
        "reset-mid-body-once",
        "connection reset mid-body (once)",
        "treats the partial answer as a failed attempt and retries",
        inject(Reset()),
        RETRIED,
        0,
        8,
        exactly(2),
        exactly(1),
    ),
    Row(
        "reset-mid-body-always",
        "connection reset mid-body (every attempt)",
        "gives up after 5 attempts",
        inject(Reset(), FOREVER),
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6 + SLACK,
        exactly(5),
        exactly(0),
        args=("--timeout", "6"),
        stderr="connection",
    ),
    Row(
        "hang-once",
        "hang past the 3 s attempt timeout (once)",
        "abandons the attempt after 3 s and retries",
        inject(Hang(30)),
        RETRIED,
        0,
        3 + SLACK,
        exactly(2),
        exactly(1),
        args=("--timeout", "10"),
    ),
    Row(
        "hang-always",
        "hang (every attempt)",
        "stops at the --timeout budget (4 s here)",
        inject(Hang(30), FOREVER),
        FAILED,
        ExitCode.TIMEOUT,
        4 + SLACK,
        (2, 3),
        exactly(0),
        args=("--timeout", "4"),
        stderr="budget ran out",
    ),
    Row(
        "drip-headers-always",
        "status line and headers dripped, 1 byte per 200 ms (every attempt)",
        "a watchdog closes each attempt at its deadline; exit 8 at the --timeout budget",
        inject(Drip(b"x" * 2000, 0.2, headers=True), FOREVER),
        FAILED,
        ExitCode.TIMEOUT,
        4 + DEADLINE_SLACK,
        (1, 3),
        exactly(0),
        args=("--timeout", "4"),
        stderr="budget ran out",
    ),
    Row(
        "slow-drip-once",
        "slow-drip body, 1 byte per 50 ms (once)",
        "bounds each whole attempt (not each read) at 3 s, then retries",
        inject(Drip(b"x" * 2000, 0.05)),
        RETRIED,
        0,
        3 + SLACK,
        exactly(2),
        exactly(1),
        args=("--timeout", "10"),
    ),
    Row(
        "slow-drip-always",
        "slow-drip body (every attempt)",
        "stops at the --timeout budget (4 s here)",
        inject(Drip(b"x" * 2000, 0.05), FOREVER),
        FAILED,
        ExitCode.TIMEOUT,
        4 + SLACK,
        (2, 3),
        exactly(0),
        args=("--timeout", "4"),
        stderr="budget ran out",
    ),
    Row(
        "200-html",
        "HTTP 200 with an HTML page",
        "refuses it as not a JWT, without calling STS",
        inject(Body(200, HTML, FLAVOR)),
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="not a JWT (HTML)",
    ),
    Row(
        "200-html-no-flavor",
        "HTTP 200 from something else (no Metadata-Flavor header)",
        "refuses the answer and hints at NO_PROXY",
        inject(Body(200, HTML, {"Content-Type": "text/html"})),
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6,
        exactly(1),
        exactly(0),
        stderr="lacks the Metadata-Flavor",
    ),
    Row(
        "200-empty",
        "HTTP 200 with an empty body",
        "refuses it, without calling STS",
        inject(Body(200, b"", FLAVOR)),
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="empty token",
    ),
    Row(
        "jwt-expired",
        "JWT expired an hour ago",
        "refuses it (60 s leeway), without calling STS",
        claims(iat=-7200, exp=-3600),
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="expired",
    ),
    Row(
        "jwt-not-yet-valid",
        "JWT not yet valid (iat and nbf 10 min ahead)",
        "passes it on: STS judges iat/nbf with its own clock",
        claims(iat=600, nbf=600, exp=4200),
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
    ),
    Row(
        "jwt-wrong-audience",
        "JWT for another audience",
        "refuses it: STS would bind the wrong oaud",
        wrong_audience,
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="not the requested",
    ),
    Row(
        "jwt-malformed",
        "malformed JWT (three segments, not base64 JSON)",
        "refuses it, without calling STS",
        inject(Body(200, b"eyJhbGciOi.bm90IGpzb24.c2ln", FLAVOR)),
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="not base64url-encoded JSON",
    ),
    Row(
        "404-no-service-account",
        "HTTP 404 (no service account)",
        "fails at once, hinting at attaching a service account",
        no_service_account,
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6,
        exactly(1),
        exactly(0),
        stderr="no service account",
    ),
    Row(
        "403-flavor-stripped",
        "HTTP 403 (a proxy stripped Metadata-Flavor)",
        "fails at once, hinting at NO_PROXY",
        inject(Body(403, HTML, FLAVOR)),
        FAILED,
        ExitCode.TOKEN_UNAVAILABLE,
        6,
        exactly(1),
        exactly(0),
        stderr="NO_PROXY",
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_metadata_fault(row: Row, ctx: Ctx) -> None:
    run_row(GROUP, row, ctx)
