"""Fault matrix, hostile input: paths that are FIFOs, devices or huge files, parser bombs,
malformed endpoints in the environment, and a token command that floods its stdout.

Each is a bounded, clean failure with its own exit code, before any request where the input
is local, and nothing on stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import pytest

from gcp2aws.errors import ExitCode
from tests.support.faults import FAILED, Ctx, Row, exactly, params, run_row

GROUP = "hostile input"


def _fifo(ctx: Ctx) -> str:
    path = ctx.tmp / "fifo"
    if not path.exists():
        os.mkfifo(path)
    return str(path)


def policy_fifo(ctx: Ctx) -> None:
    ctx.args += ["--session-policy", "@" + _fifo(ctx)]


def policy_dev_zero(ctx: Ctx) -> None:
    ctx.args += ["--session-policy", "@/dev/zero"]


def policy_huge(ctx: Ctx) -> None:
    path = ctx.tmp / "policy.json"
    with open(path, "wb") as fh:
        fh.truncate(100 << 20)  # 100 MB, sparse
    ctx.args += ["--session-policy", f"@{path}"]


def policy_nested(ctx: Ctx) -> None:
    path = ctx.tmp / "policy.json"
    path.write_text("[" * 30_000 + "]" * 30_000)
    ctx.args += ["--session-policy", f"@{path}"]


def token_file_fifo(ctx: Ctx) -> None:
    ctx.args += ["--token-file", _fifo(ctx)]


def google_credentials_fifo(ctx: Ctx) -> None:
    ctx.env["GOOGLE_APPLICATION_CREDENTIALS"] = _fifo(ctx)


def aws_config_fifo(ctx: Ctx) -> None:
    ctx.env["AWS_CONFIG_FILE"] = _fifo(ctx)


def env_setter(name: str, value: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        ctx.env[name] = value

    return setup


def token_command_flood(ctx: Ctx) -> None:
    code = "import sys; sys.stdout.write('x' * 50_000_000)"
    ctx.args += ["--token-command", f'{sys.executable} -c "{code}"']


def full_width_duration(ctx: Ctx) -> None:
    ctx.args += ["--duration-seconds", "\uff13\uff16\uff10\uff10"]


def _row(  # noqa: PLR0917 - the columns of one row
    id_: str, fault: str, does: str, setup: Callable[[Ctx], None], code: ExitCode, stderr: str,
    metadata_calls: tuple[int, int] = exactly(0),
) -> Row:  # fmt: skip
    return Row(
        id_, fault, does, setup, FAILED, int(code), 5, metadata_calls, exactly(0), stderr=stderr
    )


ROWS = [
    _row(
        "session-policy-fifo",
        "--session-policy @FIFO (no writer)",
        "refuses it without opening it for a blocking read (O_NONBLOCK, fstat)",
        policy_fifo,
        ExitCode.USAGE,
        "a FIFO, not a regular file",
    ),
    _row(
        "session-policy-dev-zero",
        "--session-policy @/dev/zero",
        "refuses a device: nothing is read",
        policy_dev_zero,
        ExitCode.USAGE,
        "a character device",
    ),
    _row(
        "session-policy-100mb",
        "--session-policy @FILE of 100 MB",
        "reads at most 64 KiB + 1 byte, then refuses",
        policy_huge,
        ExitCode.USAGE,
        "larger than 65,536 bytes",
    ),
    _row(
        "session-policy-nested",
        "--session-policy nested 30,000 arrays deep",
        "a usage error, not the parser's RecursionError",
        policy_nested,
        ExitCode.USAGE,
        "not valid JSON",
    ),
    _row(
        "token-file-fifo",
        "--token-file FIFO (no writer)",
        "refuses it without blocking",
        token_file_fifo,
        ExitCode.TOKEN_UNAVAILABLE,
        "a FIFO, not a regular file",
    ),
    _row(
        "google-credentials-fifo",
        "GOOGLE_APPLICATION_CREDENTIALS is a FIFO",
        "refuses it without blocking",
        google_credentials_fifo,
        ExitCode.CONFIG,
        "a FIFO, not a regular file",
    ),
    _row(
        "aws-config-fifo",
        "AWS_CONFIG_FILE is a FIFO (botocore would block opening it)",
        "checks the file before botocore reads it",
        aws_config_fifo,
        ExitCode.CONFIG,
        "is a FIFO, not a regular file",
        metadata_calls=(0, 1),
    ),
    _row(
        "metadata-host-path",
        "GCE_METADATA_HOST=127.0.0.1:1/evil",
        "a configuration error naming the variable",
        env_setter("GCE_METADATA_HOST", "127.0.0.1:1/evil"),
        ExitCode.CONFIG,
        "GCE_METADATA_HOST=127.0.0.1:1/evil is not a host or host:port",
    ),
    _row(
        "metadata-host-crlf",
        "GCE_METADATA_HOST with CR/LF (header injection)",
        "a configuration error; the CR/LF is shown escaped",
        env_setter("GCE_METADATA_HOST", "127.0.0.1\r\nX-Injected: 1"),
        ExitCode.CONFIG,
        "127.0.0.1\\x0d\\x0aX-Injected: 1 is not a host",
    ),
    _row(
        "metadata-host-100kb",
        "GCE_METADATA_HOST of 100,000 characters",
        "a configuration error with an 80-character excerpt",
        env_setter("GCE_METADATA_HOST", "a" * 100_000),
        ExitCode.CONFIG,
        "is not a host",
    ),
    _row(
        "endpoint-url-malformed",
        "AWS_ENDPOINT_URL_STS=http://[::1 (unclosed bracket)",
        "a configuration error before botocore sees it",
        env_setter("AWS_ENDPOINT_URL_STS", "http://[::1"),
        ExitCode.CONFIG,
        "is not a usable endpoint",
        metadata_calls=(0, 1),
    ),
    _row(
        "token-command-50mb",
        "--token-command printing 50 MB on stdout",
        "stops reading at 1 MiB and kills it",
        token_command_flood,
        ExitCode.TOKEN_UNAVAILABLE,
        "printed more than 1,048,576 bytes on stdout",
    ),
    _row(
        "duration-full-width",
        "--duration-seconds in full-width digits",
        "ASCII digits only: a usage error",
        full_width_duration,
        ExitCode.USAGE,
        "invalid duration",
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_input_fault(row: Row, ctx: Ctx) -> None:
    run_row(GROUP, row, ctx)
