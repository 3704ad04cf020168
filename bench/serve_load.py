#!/usr/bin/env python3
"""Load test of `gcp2aws serve`: throughput, tail latency, STS calls under load, RSS over time.

  python bench/serve_load.py [--duration 10] [--connections 16] [--total 100000]

Starts the GCE metadata emulator and a local STS (moto) in this process, then the real
`gcp2aws serve` CLI as a separate process with a short credential lifetime (900 s STS minimum,
refresh window 895 s: a rotation every ~5 s), so credentials rotate *during* the load.

1. load: 16 keep-alive connections for 10 s with wrk (Debian package `wrk`), or a Python
   http.client keep-alive client in threads when wrk is missing -> requests/s, errors, p50/p99;
2. STS: AssumeRoleWithWebIdentity calls seen by the local STS vs distinct credential sets the
   endpoint served (from its access log and a side poller): they must be equal;
3. memory: the server's RSS after warm-up, then after every batch until 100,000 more requests.

Results are printed and written to bench/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gcp2aws.emulator.local_sts import LocalSts
from gcp2aws.emulator.metadata import MetadataEmulator

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
ROLE = "arn:aws:iam::123456789012:role/bench"
DURATION, WINDOW = 900, 895  # a rotation every ~5 s

TARGETS = {"rps_min": 2000, "p99_ms_max": 20.0, "errors": 0}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- load generators -------------------------------------------------------------------------------
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, token: str, seconds: float, connections: int) -> dict[str, float]:
    # One thread per core: wrk's event loop per thread handles many connections.
    threads = min(connections, os.cpu_count() or 1)
    proc = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-H",
            f"Authorization: {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = proc.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    pct = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "errors": errors,
        "p50_ms": pct["50"],
        "p99_ms": pct["99"],
        "seconds": seconds,
    }


def python_client(url: str, token: str, seconds: float, connections: int) -> dict[str, float]:
    """Fallback: keep-alive http.client connections in threads (slower: it shares the GIL)."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        own = latencies[i]
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/", headers={"Authorization": token})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[i] += 1
            except OSError:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=5)
                continue
            own.append((time.perf_counter() - t0) * 1000)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    flat = sorted(x for own in latencies for x in own)
    n = len(flat)
    return {
        "requests": n,
        "rps": n / elapsed,
        "errors": sum(errors),
        "p50_ms": flat[n // 2] if n else 0.0,
        "p99_ms": flat[min(n - 1, int(n * 0.99))] if n else 0.0,
        "seconds": elapsed,
    }


# -- the run ---------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--total", type=int, default=100_000, help="requests for the RSS check")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve_load.json")
    args = parser.parse_args()
    client_name = args.client
    if client_name == "auto":
        client_name = "wrk" if shutil.which("wrk") else "python"
    load = wrk if client_name == "wrk" else python_client

    with tempfile.TemporaryDirectory() as home, MetadataEmulator() as metadata, LocalSts() as sts:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GCP2AWS_"))}
        env.update(
            HOME=home,
            XDG_CACHE_HOME=os.path.join(home, ".cache"),
            AWS_CONFIG_FILE=os.path.join(home, "config"),
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            GCE_METADATA_HOST=metadata.address,
            GCE_METADATA_IP=metadata.address,
            AWS_ENDPOINT_URL_STS=sts.url,
            AWS_REGION="us-east-1",
        )
        log_path = Path(home) / "access.log"
        with open(log_path, "w") as log_file:
            server = subprocess.Popen(
                [
                    str(BIN / "gcp2aws"),
                    "serve",
                    "--role-arn",
                    ROLE,
                    "--format",
                    "dotenv",
                    "--duration-seconds",
                    str(DURATION),
                    "--refresh-window",
                    str(WINDOW),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
            )
            assert server.stdout is not None
            client_env = dict(server.stdout.readline().strip().split("=", 1) for _ in range(2))
            url = client_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            token = client_env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
            try:
                result = run_load(load, url, token, args=args, pid=server.pid, sts=sts)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=15)
        keys_logged = set()
        with open(log_path) as fh:
            for line in fh:
                if line.startswith("{"):
                    record = json.loads(line)
                    if record.get("status") == 200:
                        keys_logged.add(record["key"])
        result["load"]["client"] = client_name
        result["sts"]["distinct_keys_in_access_log"] = len(keys_logged)
        # Every set the server fetched was served (the load never pauses), except possibly one
        # installed after the last request.
        calls = result["sts"]["assume_calls"]
        result["sts"]["ok_whole_run"] = len(keys_logged) <= calls <= len(keys_logged) + 1
        result["pass"] = result["pass"] and result["sts"]["ok_whole_run"]

    report(result, args.out)
    return 0 if result["pass"] else 1


def run_load(load, url: str, token: str, *, args: argparse.Namespace, pid: int, sts: LocalSts):  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    stop = threading.Event()

    def poll() -> None:  # a side client noting each credential set served
        conn = http.client.HTTPConnection(
            url.split("//")[1].rstrip("/").rsplit(":", 1)[0],
            int(url.rstrip("/").rsplit(":", 1)[1]),
            timeout=5,
        )
        while not stop.wait(0.1):
            conn.request("GET", "/", headers={"Authorization": token})
            seen.add(json.loads(conn.getresponse().read())["AccessKeyId"])
        conn.close()

    load_before = round(os.getloadavg()[0], 2)
    load(url, token, 1.0, args.connections)  # warm-up: threads, connections, caches
    calls_before = sts.assume_calls
    poller = threading.Thread(target=poll)
    poller.start()
    main_load = load(url, token, args.duration, args.connections)
    stop.set()
    poller.join()
    sts_calls = sts.assume_calls - calls_before
    # Credential sets that appeared during the load window: the one in place at the start was
    # fetched before it (so it costs no call in the window), each later one cost exactly one.
    sets_during = len(seen)

    rss = [(0, rss_kib(pid))]
    done = 0
    while done < args.total:
        batch = load(url, token, 3.0, args.connections)
        done += int(batch["requests"])
        rss.append((done, rss_kib(pid)))
    growth = rss[-1][1] - rss[0][1]
    ok_load = (
        main_load["rps"] >= TARGETS["rps_min"]
        and main_load["errors"] == TARGETS["errors"]
        and main_load["p99_ms"] < TARGETS["p99_ms_max"]
    )
    # One call per new set; a refresh may be in flight as the window closes (+1).
    ok_sts = sets_during - 1 <= sts_calls <= sets_during
    # "Flat": less than 2 MiB growth between the first and last sample after warm-up.
    ok_rss = growth < 2048
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            # Other work on the machine shows up in the tail latency: record how busy it was.
            "loadavg_1m_before": load_before,
        },
        "config": {
            "connections": args.connections,
            "duration_s": args.duration,
            "credential_lifetime_s": DURATION,
            "refresh_window_s": WINDOW,
        },
        "load": {k: round(v, 3) if isinstance(v, float) else v for k, v in main_load.items()},
        "sts": {
            "assume_calls_during_load": sts_calls,
            "credential_sets_served": sets_during,
            "assume_calls": sts.assume_calls,
            "ok_during_load": ok_sts,
        },
        "rss": {"samples_kib": rss, "growth_kib": growth, "requests": done, "ok": ok_rss},
        "targets": TARGETS,
        "pass": ok_load and ok_sts and ok_rss,
    }


def report(result: dict, out: Path) -> None:  # type: ignore[type-arg]
    load, sts, rss = result["load"], result["sts"], result["rss"]
    rows = [
        (
            "client",
            f"{load['client']}, {result['config']['connections']} keep-alive connections, "
            f"{load['seconds']:.0f} s",
        ),
        ("requests/s", f"{load['rps']:.0f}  (target >= {TARGETS['rps_min']})"),
        ("errors", f"{load['errors']}  (of {load['requests']} requests)"),
        (
            "latency p50 / p99",
            f"{load['p50_ms']:.2f} ms / {load['p99_ms']:.2f} ms  "
            f"(target p99 < {TARGETS['p99_ms_max']:.0f} ms)",
        ),
        ("credential sets during load", str(sts["credential_sets_served"])),
        (
            "STS calls during load",
            f"{sts['assume_calls_during_load']}  "
            f"(= sets - 1: the first was fetched before the load)",
        ),
        (
            "STS calls, whole run",
            f"{sts['assume_calls']}  (distinct keys in access log: "
            f"{sts['distinct_keys_in_access_log']})",
        ),
        ("RSS after warm-up", f"{rss['samples_kib'][0][1] / 1024:.1f} MiB"),
        (
            "RSS after requests",
            f"{rss['samples_kib'][-1][1] / 1024:.1f} MiB after "
            f"{rss['requests']} requests (growth {rss['growth_kib']} KiB)",
        ),
        ("result", "PASS" if result["pass"] else "FAIL"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    sys.exit(main())
