"""Fault matrix, local side: unwritable or full cache, planted symlinks, killed lock holders and
writers, clock skew against the token, and an unwritable home directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.cache import CacheEntry, decode_entry, encode_entry
from gcp2aws.errors import ExitCode
from tests.support.faults import (
    ARGS,
    DEGRADED,
    FAILED,
    OK,
    Ctx,
    Row,
    Run,
    credential_doc,
    exactly,
    full_disk,
    make_read_only_dir,
    params,
    run,
    run_row,
)

GROUP = "local"
SKEW = 600  # 10 minutes

# Takes the cache lock for the key `gcp2aws credentials ARGS` uses (through the same code as
# the hot path), says so, and waits to be killed.
LOCK_HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from gcp2aws import options
    from gcp2aws.cache import CredentialCache, cache_key

    raw = options.resolve_raw(options.parse_fast(sys.argv[1:]), os.environ)
    cache = CredentialCache(options.cache_dir(raw, os.environ))
    with cache.lock(cache_key(options.key_parts(raw, os.environ)), 5) as lock:
        assert lock.acquired
        print("locked", flush=True)
        time.sleep(600)
    """
)

# Runs gcp2aws credentials in-process, SIGKILLing itself at the rename that would publish the
# cache entry: the fsynced temp file is left behind, exactly as after a crash at that point.
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    real_replace = os.replace

    def replace(src, dst, **kwargs):
        if os.path.basename(str(src)).startswith(".tmp-"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, **kwargs)

    os.replace = replace
    from gcp2aws.hotpath import main
    sys.exit(main(sys.argv[1:]))
    """
)


def python(code: str, args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kwargs)


def cache_files(ctx: Ctx, prefix: str = "", suffix: str = ".cred") -> list[Path]:
    """Published entries (``*.cred``), or with ``prefix`` the temp files of any suffix."""
    if not ctx.cache_dir.is_dir():
        return []
    if prefix:
        return sorted(p for p in ctx.cache_dir.iterdir() if p.name.startswith(prefix))
    names = [p for p in ctx.cache_dir.iterdir() if p.name.endswith(suffix)]
    return sorted(p for p in names if not p.name.startswith(".tmp-"))


def prefill(ctx: Ctx) -> dict[str, Any]:
    """One real run that fills the cache; returns its credentials."""
    result = run(list(ARGS), ctx.env)
    assert result.proc.returncode == 0, result.proc.stderr
    doc = credential_doc(result.proc.stdout)
    ctx.secrets += [doc["SecretAccessKey"], doc["SessionToken"]]
    return doc


def age_entry(ctx: Ctx, seconds_left: int) -> None:
    """Rewrite the cached entry so that it expires ``seconds_left`` from now."""
    (path,) = cache_files(ctx)
    entry = decode_entry(path.read_bytes())
    assert entry is not None
    path.write_bytes(
        encode_entry(CacheEntry(entry.key, int(time.time()) + seconds_left, entry.payload))
    )


def nothing_written(ctx: Ctx, result: Run) -> None:
    assert list(ctx.cache_dir.iterdir()) == []


# -- setups ---------------------------------------------------------------------------------------
def read_only_cache_dir(ctx: Ctx) -> None:
    make_read_only_dir(ctx.cache_dir, ctx.stack)


def full_disk_setup(ctx: Ctx) -> None:
    ctx.preexec = full_disk


def no_entry_or_temp(ctx: Ctx, result: Run) -> None:
    assert cache_files(ctx) == []
    assert cache_files(ctx, prefix=".tmp-") == []


def unwritable_home(ctx: Ctx) -> None:
    home = ctx.tmp / "readonly-home"
    make_read_only_dir(home, ctx.stack)
    ctx.env["HOME"] = str(home)
    del ctx.env["XDG_CACHE_HOME"]


def home_untouched(ctx: Ctx, result: Run) -> None:
    assert list(Path(ctx.env["HOME"]).iterdir()) == []


def symlinked_entry(ctx: Ctx) -> None:
    doc = prefill(ctx)
    (path,) = cache_files(ctx)
    # Someone swaps the entry for a link to a file they control (or one we must not clobber).
    victim = ctx.tmp / "victim.cred"
    victim.write_bytes(path.read_bytes())
    victim.chmod(0o600)
    path.unlink()
    path.symlink_to(victim)
    ctx.secrets.append(doc["AccessKeyId"])  # the planted credentials must not be served


def symlink_replaced(ctx: Ctx, result: Run) -> None:
    (path,) = cache_files(ctx)
    assert not path.is_symlink()
    victim = ctx.tmp / "victim.cred"
    entry = decode_entry(victim.read_bytes())
    assert entry is not None, victim.read_bytes()[:300]  # the target was not written through
    assert entry.payload.decode() not in result.proc.stdout
    planted = decode_entry(path.read_bytes())
    assert planted is not None
    assert planted.payload.decode() == result.proc.stdout


def lock_holder(ctx: Ctx) -> subprocess.Popen[str]:
    holder = python(LOCK_HOLDER, list(ARGS[1:]), ctx.env, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def lock_holder_killed(ctx: Ctx) -> None:
    prefill(ctx)
    age_entry(ctx, 900)  # inside the refresh window: the next run must take the lock
    holder = lock_holder(ctx)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGKILL


def lock_holder_stopped(ctx: Ctx) -> None:
    prefill(ctx)
    age_entry(ctx, 900)
    holder = lock_holder(ctx)
    holder.send_signal(signal.SIGSTOP)  # alive, holding the lock, never letting go

    def cleanup() -> None:
        holder.kill()
        holder.wait(timeout=10)

    ctx.stack.callback(cleanup)


def writer_killed_before_rename(ctx: Ctx) -> None:
    killed = python(
        KILLED_WRITER, list(ARGS), ctx.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, _ = killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert out == ""  # killed before printing anything
    assert cache_files(ctx) == []
    (temp,) = cache_files(ctx, prefix=".tmp-")
    # The sweep only removes temp files older than an hour: a younger one may be a live writer.
    old = time.time() - 2 * 3600
    os.utime(temp, (old, old))
    entry = decode_entry(temp.read_bytes())
    assert entry is not None  # complete and fsynced, just never published
    doc = credential_doc(entry.payload.decode())
    ctx.secrets += [doc["SecretAccessKey"], doc["SessionToken"]]


def recovered_after_kill(ctx: Ctx, result: Run) -> None:
    assert cache_files(ctx, prefix=".tmp-") == []  # the stale temp file was swept
    (path,) = cache_files(ctx)
    entry = decode_entry(path.read_bytes())
    assert entry is not None
    assert entry.payload.decode() == result.proc.stdout
    again = run(list(ARGS), ctx.env)  # and the next run is a cache hit
    assert again.proc.stdout == result.proc.stdout


def skewed(offset: int, lifetime: int = 3600) -> Any:
    """Tokens issued by a clock ``offset`` seconds away from ours (iat/exp move with it)."""

    def setup(ctx: Ctx) -> None:
        ctx.metadata.clock = lambda: time.time() + offset
        ctx.metadata.token_lifetime = lifetime

    return setup


ROWS = [
    Row(
        "cache-dir-read-only",
        "cache directory on a read-only filesystem",
        "warns, prints the credentials, caches nothing",
        read_only_cache_dir,
        DEGRADED,
        0,
        6,
        exactly(1),
        exactly(1),
        stderr="could not write the cache",
        check=nothing_written,
    ),
    Row(
        "cache-dir-full",
        "full disk (RLIMIT_FSIZE=0: writes fail with EFBIG)",
        "warns, prints the credentials, leaves no partial file",
        full_disk_setup,
        DEGRADED,
        0,
        6,
        exactly(1),
        exactly(1),
        stderr="could not write the cache",
        check=no_entry_or_temp,
    ),
    Row(
        "home-not-writable",
        "home directory not writable (no XDG_CACHE_HOME)",
        "warns, prints the credentials, writes nothing",
        unwritable_home,
        DEGRADED,
        0,
        6,
        exactly(1),
        exactly(1),
        stderr="running uncached",
        check=home_untouched,
    ),
    Row(
        "cache-file-symlink",
        "cache file replaced by a symlink to another file",
        "never follows it (O_NOFOLLOW): a miss; the new entry replaces the link, not its target",
        symlinked_entry,
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
        check=symlink_replaced,
    ),
    Row(
        "lock-holder-sigkilled",
        "cache lock held by a process that was SIGKILLed",
        "the kernel released the flock: refreshes at once",
        lock_holder_killed,
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
    ),
    Row(
        "lock-holder-stopped",
        "cache lock held by a stopped (SIGSTOP) process",
        "waits --timeout + 5 s for the lock, then refreshes without it",
        lock_holder_stopped,
        DEGRADED,
        0,
        2 + 5 + 5,
        exactly(1),
        exactly(1),
        args=("--timeout", "2"),
        stderr="is busy",
    ),
    Row(
        "killed-before-rename",
        "writer SIGKILLed between the temp-file write and the rename",
        "next run refreshes; temp files older than an hour are swept",
        writer_killed_before_rename,
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
        check=recovered_after_kill,
    ),
    Row(
        "clock-behind-token",
        "our clock 10 min behind the token (iat in the future)",
        "accepts it: STS judges iat with its own clock",
        skewed(+SKEW),
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
    ),
    Row(
        "clock-ahead-of-token",
        "our clock 10 min ahead of the token (token 10 min old)",
        "accepts it: still valid",
        skewed(-SKEW),
        OK,
        0,
        6,
        exactly(1),
        exactly(1),
    ),
    Row(
        "clock-ahead-token-expired",
        "our clock 10 min ahead of a 5-min token (expired 5 min ago to us)",
        "refuses it beyond the 60 s leeway, with a clock hint, without calling STS",
        skewed(-SKEW, lifetime=300),
        FAILED,
        ExitCode.TOKEN_INVALID,
        6,
        exactly(1),
        exactly(0),
        stderr="clock",
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_local_fault(row: Row, ctx: Ctx) -> None:
    run_row(GROUP, row, ctx)
