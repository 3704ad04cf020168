#!/usr/bin/env python3
"""The admission webhook under a steady load, and the RSS of what it injects.

  python bench/webhook_bench.py [--rate 200] [--duration 30]

1. admission: the real `gcp2aws webhook serve` as a separate process, its ServiceAccounts from
   the test suite's stand-in API server, reviewed over one TLS keep-alive connection on
   loopback at a fixed rate (requests are sent on a schedule, not back to back, so a slow
   answer shows as latency): p50, p99 and max latency as the client sees it;
2. the server's RSS (VmRSS) after warm-up, then every 5 s: it must stay flat;
3. the injected sidecars' RSS, idle after their first token/credentials, as the webhook
   injects them (against the metadata emulator and a local STS), next to bare Python's.

Results are printed and written to bench/results/webhook.json. Needs the test extra.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gcp2aws.emulator.local_sts import LocalSts  # noqa: E402
from gcp2aws.emulator.metadata import MetadataEmulator  # noqa: E402
from gcp2aws.webhook import certs, injection, manifests, mutate  # noqa: E402
from tests.support.kube_api import FakeKubeApi  # noqa: E402

EXE = str(Path(sys.executable).parent / "gcp2aws")
HOST = f"{manifests.NAME}.gcp2aws.svc"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def review(i: int) -> bytes:
    pod = {
        "metadata": {"generateName": "app-"},
        "spec": {
            "serviceAccountName": "app",
            "containers": [{"name": "app", "image": "app:1"}, {"name": "w", "image": "w:1"}],
        },
    }
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": f"u-{i}",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": "shop",
            "object": pod,
        },
    }
    return json.dumps(body).encode()


def wait_listening(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    for line in proc.stderr:
        record = json.loads(line)
        if "listening on" in record["msg"]:
            return int(record["msg"].rsplit(":", 1)[1])
    raise RuntimeError("the webhook did not start")


def admission_load(rate: float, duration: float, tmp: Path) -> dict[str, Any]:
    api = FakeKubeApi().start()
    api.put("shop", "app", {injection.ROLE_ARN: "arn:aws:iam::123456789012:role/app"})
    bundle = certs.generate(manifests.dns_names("gcp2aws"))
    (tmp / "tls.crt").write_text(bundle.cert)
    (tmp / "tls.key").write_text(bundle.key)
    proc = subprocess.Popen(
        [
            EXE,
            "webhook",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--cert-file",
            str(tmp / "tls.crt"),
            "--key-file",
            str(tmp / "tls.key"),
            "--sidecar-image",
            "gcp2aws:b",
            "--kubeconfig",
            str(api.write_kubeconfig(tmp / "kubeconfig")),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = wait_listening(proc)
        # The log lines (one per review, with the server's own durationMs) go to a file.
        log_file = (tmp / "webhook.log").open("w")
        drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=log_file)
        context = ssl.create_default_context(cadata=bundle.ca_cert)
        conn = http.client.HTTPSConnection(HOST, port, context=context, timeout=10)
        raw = socket.create_connection(("127.0.0.1", port))
        # The API server is Go, whose sockets have TCP_NODELAY on by default.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = context.wrap_socket(raw, server_hostname=HOST)
        bodies = [review(i) for i in range(1000)]

        def once(i: int) -> float:
            started = time.perf_counter()
            conn.request(
                "POST",
                "/mutate",
                body=bodies[i % len(bodies)],
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200, data[:200]
            assert b'"patch"' in data, data[:200]
            return elapsed

        for i in range(200):  # warm-up: caches, the first TLS records, the allocator
            once(i)
        rss = [(0.0, rss_kib(proc.pid))]
        latencies: list[float] = []
        interval = 1.0 / rate
        start = time.perf_counter()
        next_rss = 5.0
        i = 0
        while True:
            due = start + i * interval
            now = time.perf_counter()
            if due - start >= duration:
                break
            if due > now:
                time.sleep(due - now)
            # Latency from when the request was due: queueing behind a slow answer counts.
            sent_late = max(0.0, time.perf_counter() - due)
            latencies.append(once(i) + sent_late)
            i += 1
            if time.perf_counter() - start >= next_rss:
                rss.append((round(time.perf_counter() - start, 1), rss_kib(proc.pid)))
                next_rss += 5.0
        elapsed = time.perf_counter() - start
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        api.stop()
    drain.wait(timeout=10)
    log_file.close()
    server_ms = sorted(
        r["durationMs"]
        for r in map(json.loads, (tmp / "webhook.log").read_text().splitlines())
        if r.get("msg") == "admission"
    )
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "rate_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
        # Inside the server, from the end of the headers to the answer (its log lines).
        "server_p50_ms": server_ms[len(server_ms) // 2],
        "server_p99_ms": server_ms[int(len(server_ms) * 0.99) - 1],
        "rss_kib": rss,
        "rss_growth_kib": rss[-1][1] - rss[0][1],
    }


def idle_rss(argv: list[str], env: dict[str, str], ready: Path) -> int:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (ready.exists() and ready.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.0)  # idle: after the first write, waiting for the next refresh
        return rss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def sidecar_memory(tmp: Path) -> dict[str, int]:
    want = injection.Injection(role_arn="arn:aws:iam::123456789012:role/app")
    out = {}
    with MetadataEmulator() as metadata, LocalSts() as sts:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp),
            "GCE_METADATA_HOST": metadata.address,
            "GCE_METADATA_IP": metadata.address,
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "GCP2AWS_CACHE_DIR": str(tmp / "cache"),
        }
        for mode in ("sidecar", "endpoint"):
            shared = tmp / mode
            shared.mkdir()
            args = [
                a.replace(mutate.RUN_DIR, str(shared))
                for a in mutate.sidecar_args(injection.Injection(role_arn=want.role_arn, mode=mode))
            ]
            if mode == "endpoint":
                args[args.index("--port") + 1] = "0"
            ready = shared / ("token" if mode == "sidecar" else "auth-token")
            out[f"{mode}_kib"] = idle_rss([EXE, *args], env, ready)
    bare = subprocess.run(
        [
            sys.executable,
            "-c",
            "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out["bare_python_kib"] = int(bare.stdout)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "webhook.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        load = admission_load(args.rate, args.duration, Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        memory = sidecar_memory(Path(tmp))
    result = {"python": sys.version.split()[0], "admission": load, "sidecars": memory}
    print(
        f"admission: {load['requests']} reviews at {load['rate_per_s']}/s over TLS keep-alive: "
        f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, max {load['max_ms']} ms "
        f"(inside the server: p50 {load['server_p50_ms']} ms, p99 {load['server_p99_ms']} ms)"
    )
    print(f"webhook RSS (KiB, by second): {load['rss_kib']}; growth {load['rss_growth_kib']} KiB")
    print(
        f"sidecar RSS idle: token --watch {memory['sidecar_kib'] / 1024:.1f} MiB, serve "
        f"{memory['endpoint_kib'] / 1024:.1f} MiB, bare Python "
        f"{memory['bare_python_kib'] / 1024:.1f} MiB"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
