#!/usr/bin/env python3
"""Warm-cache `gcp2aws credentials` from two installs vs `python -c pass`, interleaved in one run.

  python bench/hotpath_ab.py --before OTHER_CHECKOUT/.venv [--after .venv] [--runs 60]

Each install warms its own cache (in a private HOME) with its own key code, then the three
commands run in turn, so machine load hits all of them alike. Prints median wall and CPU time
(user + sys of the child) and each one's ratio to bare Python.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROLE = "arn:aws:iam::123456789012:role/bench"
PAYLOAD = b'{"Version": 1}\n'
WARM = f"""
import os, sys, time
from gcp2aws import options
from gcp2aws.cache import CacheEntry, CredentialCache, cache_key
raw = options.resolve_raw({{"role_arn": sys.argv[1]}}, os.environ)
cache = CredentialCache(options.cache_dir(raw, os.environ))
cache.unsafe_reason(create=True)
key = cache_key(options.key_parts(raw, os.environ))
cache.write(CacheEntry(key, int(time.time()) + 7200, {PAYLOAD!r}))
"""


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other install's venv")
    parser.add_argument("--after", type=Path, default=Path(sys.prefix), help="default: this one")
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    base_env = {"PATH": "/usr/bin:/bin"}
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([str(args.after / "bin" / "python"), "-c", "pass"], base_env)
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, venv in (("before", args.before), ("after", args.after)):
            env = {**base_env, "HOME": os.path.join(tmp, label)}
            os.mkdir(env["HOME"], 0o700)
            subprocess.run([str(venv / "bin" / "python"), "-c", WARM, ROLE], env=env, check=True)
            commands[label] = (
                [str(venv / "bin" / "gcp2aws"), "credentials", "--role-arn", ROLE],
                env,
            )
        wall: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for label, (argv, env) in commands.items():
                w, c, out = run_once(argv, env)
                if label != "python -c pass" and out != PAYLOAD:
                    sys.exit(f"{label}: not a cache hit ({out[:80]!r})")
                wall[label].append(w)
                cpu[label].append(c)
    bare_wall = statistics.median(wall["python -c pass"])
    bare_cpu = statistics.median(cpu["python -c pass"])
    print(f"{args.runs} interleaved runs each, load average {os.getloadavg()[0]:.1f}")
    for label in commands:
        w, c = statistics.median(wall[label]), statistics.median(cpu[label])
        print(
            f"{label:15} wall {w * 1000:6.1f} ms ({w / bare_wall:.2f}x)"
            f"   cpu {c * 1000:5.1f} ms ({c / bare_cpu:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
