"""The fault matrix machinery: rows, a timed subprocess runner, the row contract and results log.

Every matrix test runs the real ``gcp2aws`` console script against the metadata emulator and
the local STS (moto behind a fault-injecting proxy), then checks one row: outcome, exit code,
an end-to-end elapsed bound, upstream call counts, and that no secret reached stderr.

With ``GCP2AWS_RELIABILITY_OUT=PATH`` set, each row appends one JSON line to PATH;
``scripts/reliability_table.py`` turns those lines into docs/reliability.md. The recording is a
context manager, not a hook, so a row's line is written by the row itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, assert_clean_failure, gcp2aws_exe

RESULTS_ENV = "GCP2AWS_RELIABILITY_OUT"
# Read once at import: the autouse isolated_env fixture removes every GCP2AWS_* variable
# before a test runs.
RESULTS_PATH = os.environ.get(RESULTS_ENV)
ACTION = "AssumeRoleWithWebIdentity"
ARGS = ("credentials", "--role-arn", ROLE_ARN)
SDK_REFRESH_WINDOW = 1200  # gcp2aws's default --refresh-window; above botocore's 900 s

# The outcomes a row can promise.
OK = "ok"
RETRIED = "ok after retry"
FROM_CACHE = "ok from cache, warning"
DEGRADED = "ok with a warning"
FAILED = "clean failure"
OUTCOMES = (OK, RETRIED, FROM_CACHE, DEGRADED, FAILED)

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

Calls = tuple[int, int]  # inclusive range of upstream requests


def exactly(n: int) -> Calls:
    return (n, n)


@dataclass
class Ctx:
    """What a row's setup may change before the run: faults, the environment, the arguments."""

    env: dict[str, str]
    metadata: MetadataEmulator
    sts: Any
    home: Path
    tmp: Path
    stack: contextlib.ExitStack
    args: list[str] = field(default_factory=list)
    preexec: Callable[[], None] | None = None
    secrets: list[str] = field(default_factory=list)  # never allowed on stderr

    @property
    def cache_dir(self) -> Path:
        return Path(self.env["XDG_CACHE_HOME"]) / "gcp2aws"


Setup = Callable[[Ctx], None]


@dataclass(frozen=True)
class Row:
    """One fault and what gcp2aws must do about it."""

    id: str
    fault: str  # the fault, as the README table names it
    does: str  # what gcp2aws does about it, for the table
    setup: Setup
    outcome: str
    exit_code: int
    max_elapsed: float
    metadata_calls: Calls
    sts_calls: Calls
    args: tuple[str, ...] = ()
    stderr: str = ""  # text the warning or error line must contain
    check: Callable[[Ctx, Run], None] | None = None  # further row-specific assertions

    def __post_init__(self) -> None:
        assert self.outcome in OUTCOMES, self.outcome
        assert (self.exit_code == 0) == (self.outcome != FAILED), self.id


def params(rows: Sequence[Row]) -> list[Any]:
    return [pytest.param(row, id=row.id) for row in rows]


# -- running ------------------------------------------------------------------------------------
@dataclass
class Run:
    proc: subprocess.CompletedProcess[str]
    elapsed: float


def run(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float = 90,
    preexec: Callable[[], None] | None = None,
) -> Run:
    """The real console script as a separate process, timed end to end."""
    start = time.monotonic()
    proc = subprocess.run(
        [gcp2aws_exe(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec,
    )
    return Run(proc, time.monotonic() - start)


def full_disk() -> None:
    """preexec_fn: every write to a regular file fails with EFBIG, as on a full disk."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def record_issued_tokens(metadata: MetadataEmulator) -> list[str]:
    """Every ID token the emulator signs from now on (they must never reach stderr)."""
    tokens: list[str] = []
    sign = metadata.signer.sign

    def recording_sign(claims: Any, **kwargs: Any) -> str:
        token = sign(claims, **kwargs)
        tokens.append(token)
        return token

    metadata.signer.sign = recording_sign  # type: ignore[method-assign]
    return tokens


def credential_doc(text: str) -> dict[str, Any]:
    """The one credential_process JSON object on stdout (torn or extra output fails)."""
    doc, end = json.JSONDecoder().raw_decode(text)
    assert text[end:] == "\n", "stdout must be exactly one JSON object"
    assert isinstance(doc, dict)
    assert type(doc["Version"]) is int
    assert doc["Version"] == 1
    assert RFC3339_Z.match(doc["Expiration"]), doc["Expiration"]
    for name in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        assert isinstance(doc[name], str)
        assert doc[name]
    return doc


def seconds_left(doc: Mapping[str, Any], now: float | None = None) -> float:
    expires = datetime.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    moment = time.time() if now is None else now
    return expires.replace(tzinfo=timezone.utc).timestamp() - moment


def assert_no_secrets(text: str, secrets: Sequence[str]) -> None:
    for secret in secrets:
        assert secret
        assert secret not in text, "a secret reached stderr"
        if secret.count(".") == 2:  # a JWT: its claims and signature must not leak either
            for segment in secret.split(".")[1:]:
                assert segment not in text, "part of an ID token reached stderr"


def check_row(
    row: Row, result: Run, metadata_calls: int, sts_calls: int, secrets: list[str]
) -> None:
    """The row's contract: outcome, exit code, elapsed bound, call counts, no leaked secret."""
    proc = result.proc
    if row.outcome == FAILED:
        assert_clean_failure(proc, row.exit_code)
    else:
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        doc = credential_doc(proc.stdout)
        secrets = [*secrets, doc["SecretAccessKey"], doc["SessionToken"]]
        if row.outcome in (FROM_CACHE, DEGRADED):
            assert "gcp2aws: warning:" in proc.stderr, proc.stderr
        else:
            assert "gcp2aws: error" not in proc.stderr, proc.stderr
    if row.stderr:
        assert row.stderr in proc.stderr, proc.stderr
    assert result.elapsed <= row.max_elapsed, f"took {result.elapsed:.2f}s"
    lo, hi = row.metadata_calls
    assert lo <= metadata_calls <= hi, (
        f"metadata calls {metadata_calls} not in {row.metadata_calls}"
    )
    lo, hi = row.sts_calls
    assert lo <= sts_calls <= hi, f"STS calls {sts_calls} not in {row.sts_calls}"
    assert_no_secrets(proc.stderr, secrets)


def make_ctx(
    *,
    env: Mapping[str, str],
    metadata: MetadataEmulator,
    sts: Any,
    home: Path,
    tmp: Path,
    stack: contextlib.ExitStack,
) -> Ctx:
    return Ctx(dict(env), metadata, sts, home, tmp, stack)


def run_row(group: str, row: Row, ctx: Ctx) -> Run:
    """Set the fault up, run ``gcp2aws credentials`` once, check and record the row."""
    tokens = record_issued_tokens(ctx.metadata)
    with recording(group, row) as rec:
        row.setup(ctx)
        # Count only what the run under test asks for, not what a setup step did.
        ctx.metadata.reset_calls()
        ctx.sts.reset_calls()
        result = run([*ARGS, *row.args, *ctx.args], ctx.env, preexec=ctx.preexec)
        metadata_calls, sts_calls = ctx.metadata.identity_calls, ctx.sts.calls[ACTION]
        rec.take(result, metadata_calls, sts_calls)
        check_row(row, result, metadata_calls, sts_calls, [*tokens, *ctx.secrets])
        if row.check is not None:
            row.check(ctx, result)
    return result


# -- results log --------------------------------------------------------------------------------
@dataclass
class Record:
    group: str
    row: Row
    exit_code: int | None = None
    elapsed: float | None = None
    metadata_calls: int | None = None
    sts_calls: int | None = None
    measured: str = ""  # free-form measurements beyond the columns (e.g. serve figures)

    def take(self, result: Run, metadata_calls: int, sts_calls: int) -> None:
        self.exit_code = result.proc.returncode
        self.elapsed = round(result.elapsed, 2)
        self.metadata_calls = metadata_calls
        self.sts_calls = sts_calls


@contextlib.contextmanager
def recording(group: str, row: Row) -> Iterator[Record]:
    """Append the row's measured result to $GCP2AWS_RELIABILITY_OUT (if set) as one JSON line."""
    rec = Record(group, row)
    status = "passed"
    try:
        yield rec
    except pytest.skip.Exception:
        status = "skipped"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        _write(rec, status)


def _write(rec: Record, status: str) -> None:
    path = RESULTS_PATH
    if not path:
        return
    row = rec.row
    line = {
        "group": rec.group,
        "id": row.id,
        "fault": row.fault,
        "does": row.does,
        "expected": {
            "outcome": row.outcome,
            "exit_code": row.exit_code,
            "max_elapsed": row.max_elapsed,
            "metadata_calls": list(row.metadata_calls),
            "sts_calls": list(row.sts_calls),
        },
        "outcome": row.outcome if status == "passed" else None,
        "exit_code": rec.exit_code,
        "elapsed": rec.elapsed,
        "metadata_calls": rec.metadata_calls,
        "sts_calls": rec.sts_calls,
        "measured": rec.measured,
        "status": status,
        "passed": status == "passed",
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, sort_keys=True) + "\n")


# -- read-only directories ----------------------------------------------------------------------
def make_read_only_dir(path: Path, stack: contextlib.ExitStack) -> None:
    """Make ``path`` an empty directory that cannot be written, even by root.

    Permission bits stop an ordinary user; root ignores them, so as root ``path`` becomes a
    read-only tmpfs mount (undone when ``stack`` closes). Skips when neither is possible.
    """
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o500)
        stack.callback(path.chmod, 0o700)
        return
    mount = shutil.which("mount")
    umount = shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("running as root without mount(8): cannot make a read-only directory")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "ro,mode=0700,size=64k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(
            "running as root without CAP_SYS_ADMIN: permission bits do not stop root and a "
            f"read-only tmpfs cannot be mounted ({done.stderr.strip()})"
        )
    stack.callback(subprocess.run, [umount, "-l", str(path)], check=False)
