"""Fault matrix, concurrency: 64 processes at once (cold cache, and as the cached set crosses the
refresh window), and ``serve`` under load through a 30 s STS outage.

Each row checks that there is no stampede (upstream calls counted), no torn read (every stdout
parses as exactly one credential_process document) and that no credential inside the refresh
window is handed out, except by ``serve`` while STS is down (stale-while-error).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from gcp2aws import formats
from gcp2aws.cache import CacheEntry, CredentialCache, cache_key
from gcp2aws.emulator.faults import StsError
from gcp2aws.options import key_parts, parse_fast, resolve_raw
from tests.support.cli import gcp2aws_exe
from tests.support.faults import (
    ACTION,
    ARGS,
    FROM_CACHE,
    OK,
    SDK_REFRESH_WINDOW,
    Ctx,
    Row,
    assert_no_secrets,
    credential_doc,
    exactly,
    params,
    record_issued_tokens,
    recording,
    run,
    seconds_left,
)

GROUP = "concurrency"
PROCESSES = 64
BOTOCORE_MANDATORY_WINDOW = 600  # botocore refreshes credentials with less left than this


def noop(ctx: Ctx) -> None:
    """A cold cache: nothing to set up."""


def entry_inside_window(ctx: Ctx) -> None:
    """A cached set with 15 minutes left: inside the default 20-minute refresh window.

    The entry is written with the cache API, from a real exchange whose Expiration is moved to
    match (a subprocess's clock cannot be faked, the entry's age can).
    """
    first = run([*ARGS, "--no-cache"], ctx.env)
    doc = credential_doc(first.proc.stdout)
    expires = int(time.time()) + 900
    creds = formats.from_credential_process(first.proc.stdout)
    moved = formats.credential_process(
        dataclasses.replace(creds, expiration=datetime.fromtimestamp(expires, timezone.utc))
    )
    raw = resolve_raw(parse_fast(list(ARGS[1:])) or {}, ctx.env)
    cache = CredentialCache(str(ctx.cache_dir))
    assert cache.unsafe_reason(create=True) is None
    cache.write(CacheEntry(cache_key(key_parts(raw, ctx.env)), expires, moved.encode()))
    ctx.secrets += [doc["SecretAccessKey"], doc["SessionToken"]]
    ctx.args.append(doc["AccessKeyId"])  # remembered: no process may hand this key out


ROWS = [
    Row(
        "cold-cache-64",
        f"{PROCESSES} processes at once, cold cache",
        "single flight (flock): one exchange, the other 63 read its result",
        noop,
        OK,
        0,
        60,
        exactly(1),
        exactly(1),
    ),
    Row(
        "refresh-window-64",
        f"{PROCESSES} processes at once as the cached set enters the refresh window",
        "one refresh for all; nobody gets the old set",
        entry_inside_window,
        OK,
        0,
        60,
        exactly(1),
        exactly(1),
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_many_processes(row: Row, ctx: Ctx) -> None:
    tokens = record_issued_tokens(ctx.metadata)
    with recording(GROUP, row) as rec:
        row.setup(ctx)
        old_keys = list(ctx.args)  # access key ids nobody may receive
        ctx.metadata.reset_calls()
        ctx.sts.reset_calls()
        start = time.monotonic()
        procs = [
            subprocess.Popen(
                [gcp2aws_exe(), *ARGS],
                env=ctx.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        outputs: list[tuple[int, str, str]] = []
        try:
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                outputs.append((proc.returncode, out, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        elapsed = time.monotonic() - start
        md, sts = ctx.metadata.identity_calls, ctx.sts.calls[ACTION]
        worst = next((code for code, _, _ in outputs if code != 0), 0)
        rec.exit_code, rec.elapsed = worst, round(elapsed, 2)
        rec.metadata_calls, rec.sts_calls = md, sts

        now = time.time()
        docs = []
        for code, out, err in outputs:
            assert code == 0, err
            assert "Traceback" not in err
            assert "gcp2aws: error" not in err
            docs.append(credential_doc(out))  # a torn read would not parse
        keys = {doc["AccessKeyId"] for doc in docs}
        assert len(keys) == 1, "every process must get the one refreshed set"
        assert not keys & set(old_keys), "a process handed out the set inside the window"
        least = min(seconds_left(doc, now) for doc in docs)
        assert least > SDK_REFRESH_WINDOW, f"a set with only {least:.0f}s left was handed out"
        rec.measured = f"least validity handed out: {least:.0f}s"
        secrets = [*tokens, *ctx.secrets, docs[0]["SecretAccessKey"], docs[0]["SessionToken"]]
        for _, _, err in outputs:
            assert_no_secrets(err, secrets)
        assert elapsed <= row.max_elapsed
        assert (md, sts) == (row.metadata_calls[0], row.sts_calls[0])


# -- serve under load through an STS outage ----------------------------------------------
OUTAGE = 30.0  # seconds STS answers 503 to everything
OUTAGE_START = 5.0  # seconds after serve is up; the first refresh falls due ~10 s after start
DURATION = 1210  # credentials life: with the default 1200 s window, a refresh is due at ~10 s
LOAD_THREADS = 4

SERVE_ROW = Row(
    "serve-sts-outage",
    f"serve under load while STS fails for {OUTAGE:.0f} s, then recovers",
    "answers every request from memory; keeps serving the valid set while refreshes back off; "
    "picks up new credentials after recovery",
    noop,
    FROM_CACHE,
    0,
    OUTAGE_START + OUTAGE + 45,
    (1, 30),
    (1, 60),
)


@dataclass
class Load:
    """Keep-alive clients hammering the endpoint, recording what each response carried."""

    url: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[float, str, float]] = field(default_factory=list)  # (time, key, left)
    errors: list[str] = field(default_factory=list)
    max_requests: int = 200_000

    def client(self) -> None:
        host, port = self.url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            while not self.stop.is_set():
                with self.lock:
                    if len(self.seen) + len(self.errors) >= self.max_requests:
                        return
                try:
                    conn.request("GET", "/", headers={"Authorization": self.token})
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException) as exc:
                    with self.lock:
                        self.errors.append(type(exc).__name__)
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=5)
                    continue
                now = time.time()
                with self.lock:
                    if resp.status != 200:
                        self.errors.append(f"HTTP {resp.status}")
                    else:
                        doc = json.loads(body)
                        self.seen.append((now, doc["AccessKeyId"], seconds_left(doc, now)))
                time.sleep(0.005)  # bounded load: the emulators share these two cores
        finally:
            conn.close()


def _client_env(text: str) -> dict[str, str]:
    pairs = dict(re.findall(r"^(AWS_[A-Z_]+)=(\S+)$", text, flags=re.MULTILINE))
    return {k: v.strip("'\"") for k, v in pairs.items()}


@pytest.mark.slow
def test_serve_through_an_sts_outage(ctx: Ctx) -> None:
    row = SERVE_ROW
    tokens = record_issued_tokens(ctx.metadata)
    with recording(GROUP, row) as rec:
        args = [*ARGS, "--duration-seconds", str(DURATION), "--no-access-log", "--format", "dotenv"]
        args[0] = "serve"
        started = time.monotonic()
        proc = subprocess.Popen(
            [gcp2aws_exe(), *args],
            env=ctx.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ctx.stack.callback(_stop, proc)
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        client = _client_env("".join(lines))
        url = client["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
        load = Load(url, client["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        threads = [threading.Thread(target=load.client, daemon=True) for _ in range(LOAD_THREADS)]
        for thread in threads:
            thread.start()

        time.sleep(OUTAGE_START)
        before = (ctx.metadata.identity_calls, ctx.sts.calls[ACTION])
        outage_at = time.time()
        ctx.sts.inject(
            StsError("ServiceUnavailable", "Service is unavailable", 503, "Receiver"),
            times=100_000,
            action=ACTION,
        )
        time.sleep(OUTAGE)
        ctx.sts.faults.clear()
        recovered_at = time.time()
        during = (ctx.metadata.identity_calls - before[0], ctx.sts.calls[ACTION] - before[1])

        first_key = load.seen[0][1]
        new_key_at = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with load.lock:
                fresh = [t for t, key, _ in load.seen if key != first_key]
            if fresh:
                new_key_at = fresh[0]
                break
            time.sleep(0.2)
        time.sleep(1.0)
        load.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - started
        md, sts = ctx.metadata.identity_calls, ctx.sts.calls[ACTION]
        rec.exit_code, rec.elapsed, rec.metadata_calls, rec.sts_calls = (
            proc.returncode,
            round(elapsed, 2),
            md,
            sts,
        )
        served = len(load.seen)
        rec.measured = (
            f"{served} requests, {len(load.errors)} errors; STS calls during the outage: "
            f"{during[1]}; new credentials "
            + (f"{new_key_at - recovered_at:.1f}s after recovery" if new_key_at else "never")
        )

        assert load.errors == [], load.errors[:5]
        assert served > 1000
        assert new_key_at is not None, "no new credentials after STS recovered"
        for moment, _, left in load.seen:
            if moment < outage_at or moment > new_key_at + 1:
                assert left > SDK_REFRESH_WINDOW, (moment - outage_at, left)
            else:  # stale-while-error: still valid, and outside botocore's mandatory window
                assert left > BOTOCORE_MANDATORY_WINDOW
        # Refreshes back off during the outage instead of following the load: each refresh
        # is at most 3 exchanges x 3 botocore attempts, and there are only a handful.
        assert 1 <= during[1] <= 60, during
        assert during[0] <= 30, during
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "credential refresh failed" in err or "serving cached credentials" in err
        assert_no_secrets(err, tokens)
        assert elapsed <= row.max_elapsed


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
