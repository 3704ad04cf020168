#!/usr/bin/env python3
"""Whole-process figures for `gcp2aws credentials`, as ratios measured side by side in one run.

  python bench/credentials_bench.py [--runs N]

1. warm cache: median wall time and peak RSS of `gcp2aws credentials` vs `python -c pass`
   (and the seed recipe, which has no cache);
2. through the AWS CLI: `aws sts get-caller-identity` via the credential_process profile
   (warm cache) vs the same command with static keys;
3. cold cache: gcp2aws vs the seed recipe, both against the same local emulators;
4. concurrency: 32 simultaneous cold invocations -> token requests, STS calls, distinct outputs.

Runs are interleaved (A, B, A, B...) so that machine noise hits both sides alike.
Results are printed and written to bench/results/credentials.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gcp2aws.emulator.local_sts import LocalSts
from gcp2aws.emulator.metadata import MetadataEmulator

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
ROLE = "arn:aws:iam::123456789012:role/bench"
CHAIN_HOP = "arn:aws:iam::210987654321:role/bench-spoke"


TIME = "/usr/bin/time"  # GNU time: a small parent, so the child's peak RSS is its own


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (KiB) and stdout of one process.

    The RSS comes from GNU time's %M: a child forked straight from this (large) benchmark
    process would start with our resident pages counted in its high-water mark.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        wrapped = [TIME, "-f", "%M", "-o", rss_file.name, *cmd] if os.path.exists(TIME) else cmd
        started = time.perf_counter()
        proc = subprocess.run(wrapped, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-300:]!r}")
        text = rss_file.read().strip().splitlines()
        rss = int(text[-1]) if text and text[-1].isdigit() else 0
    return elapsed, rss, proc.stdout


def interleaved(
    runs: int, sides: dict[str, Callable[[], tuple[float, int, bytes]]]
) -> dict[str, dict[str, float]]:
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    for fn in sides.values():  # one warm-up each (page cache, pyc files)
        fn()
    for _ in range(runs):
        for name, fn in sides.items():
            wall, rss, _ = fn()
            samples[name].append((wall, rss))
    return {
        name: {
            "median_ms": statistics.median(w for w, _ in vals) * 1000,
            "peak_rss_kib": max(r for _, r in vals),
        }
        for name, vals in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    python = sys.executable
    gcp2aws = str(BIN / "gcp2aws")
    aws = str(BIN / "aws")
    results: dict[str, object] = {"python": sys.version.split()[0], "runs": args.runs}

    with MetadataEmulator() as md, LocalSts() as sts, tempfile.TemporaryDirectory() as tmp:
        base = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "GCE_METADATA_HOST": md.address,
            "AWS_ENDPOINT_URL_STS": sts.url,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.path.join(tmp, "config"),
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "credentials"),
            "GCP2AWS_CACHE_DIR": os.path.join(tmp, "cache"),
        }
        cred_cmd = [gcp2aws, "credentials", "--role-arn", ROLE]
        recipe_cmd = [python, str(HERE / "seed_recipe.py"), ROLE]

        chain_cmd = [*cred_cmd, "--chain-role-arn", CHAIN_HOP]

        # 1. warm cache vs bare Python (and a two-hop chain's warm hit: the same path)
        measure(cred_cmd, base)  # fill the cache
        measure(chain_cmd, base)
        warm = interleaved(
            args.runs,
            {
                "python -c pass": lambda: measure([python, "-c", "pass"], base),
                "gcp2aws credentials (warm cache)": lambda: measure(cred_cmd, base),
                "gcp2aws credentials, two-hop chain (warm cache)": lambda: measure(chain_cmd, base),
                "seed recipe (no cache)": lambda: measure(recipe_cmd, base),
            },
        )
        bare = warm["python -c pass"]
        hot = warm["gcp2aws credentials (warm cache)"]
        results["warm"] = warm
        results["warm_time_ratio"] = hot["median_ms"] / bare["median_ms"]
        results["warm_rss_ratio"] = hot["peak_rss_kib"] / bare["peak_rss_kib"]
        chained = warm["gcp2aws credentials, two-hop chain (warm cache)"]
        results["warm_chain_time_ratio"] = chained["median_ms"] / bare["median_ms"]
        results["warm_chain_vs_one_hop"] = chained["median_ms"] / hot["median_ms"]
        results["seed_time_ratio"] = warm["seed recipe (no cache)"]["median_ms"] / bare["median_ms"]

        # 2. through the AWS CLI: credential_process profile (warm) vs static keys
        with open(base["AWS_CONFIG_FILE"], "w", encoding="utf-8") as fh:
            fh.write(f"[profile gcp]\ncredential_process = {' '.join(cred_cmd)}\n")
        static = {
            **base,
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        }
        cli_runs = max(5, args.runs // 3)
        via_cli = interleaved(
            cli_runs,
            {
                "aws sts get-caller-identity (static keys)": lambda: measure(
                    [aws, "sts", "get-caller-identity"], static
                ),
                "aws sts get-caller-identity (gcp2aws profile)": lambda: measure(
                    [aws, "sts", "get-caller-identity", "--profile", "gcp"], base
                ),
            },
        )
        results["aws_cli"] = via_cli
        results["aws_cli_ratio"] = (
            via_cli["aws sts get-caller-identity (gcp2aws profile)"]["median_ms"]
            / via_cli["aws sts get-caller-identity (static keys)"]["median_ms"]
        )

        # 3. cold: every gcp2aws run gets an empty cache directory
        counter = iter(range(10**6))

        def cold_gcp2aws() -> tuple[float, int, bytes]:
            env = {**base, "GCP2AWS_CACHE_DIR": os.path.join(tmp, f"cold-{next(counter)}")}
            return measure(cred_cmd, env)

        cold = interleaved(
            max(5, args.runs // 3),
            {
                "gcp2aws credentials (cold cache)": cold_gcp2aws,
                "seed recipe": lambda: measure(recipe_cmd, base),
            },
        )
        results["cold"] = cold
        results["cold_ratio"] = (
            cold["gcp2aws credentials (cold cache)"]["median_ms"] / cold["seed recipe"]["median_ms"]
        )

        # 4. 32 concurrent cold invocations
        md.reset_calls()
        sts.reset_calls()
        env = {**base, "GCP2AWS_CACHE_DIR": os.path.join(tmp, "concurrent")}
        procs = [
            subprocess.Popen(cred_cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(32)
        ]
        outs = [p.communicate()[0] for p in procs]
        codes = [p.returncode for p in procs]
        docs = [json.loads(o) for o in outs if o]
        valid = all(d.get("Version") == 1 and d.get("AccessKeyId") for d in docs)
        results["concurrency"] = {
            "processes": 32,
            "exit_codes_nonzero": sum(1 for c in codes if c != 0),
            "token_requests": md.identity_calls,
            "sts_calls": sts.calls["AssumeRoleWithWebIdentity"],
            "distinct_outputs": len(set(outs)),
            "all_valid": valid and len(docs) == 32,
        }

    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "credentials.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Python {results['python']}, {args.runs} interleaved runs per side")
    for section in ("warm", "aws_cli", "cold"):
        for name, vals in results[section].items():  # type: ignore[attr-defined]
            print(f"  {name:48s} {vals['median_ms']:8.1f} ms  {vals['peak_rss_kib']:8d} KiB")
    print(
        f"warm cache / python -c pass   time {results['warm_time_ratio']:.2f}x"
        f"   peak RSS {results['warm_rss_ratio']:.2f}x   (seed recipe: "
        f"{results['seed_time_ratio']:.1f}x)"
    )
    print(
        f"two-hop chain, warm / python -c pass   time {results['warm_chain_time_ratio']:.2f}x"
        f"   (/ one-hop warm hit: {results['warm_chain_vs_one_hop']:.2f}x)"
    )
    print(f"AWS CLI via gcp2aws / static keys   {results['aws_cli_ratio']:.2f}x")
    print(f"cold cache gcp2aws / seed recipe    {results['cold_ratio']:.2f}x")
    c = results["concurrency"]
    assert isinstance(c, dict)
    print(
        f"32 concurrent cold runs: {c['token_requests']} token request(s), "
        f"{c['sts_calls']} STS call(s), {c['distinct_outputs']} distinct output(s), "
        f"all valid: {c['all_valid']}"
    )


if __name__ == "__main__":
    main()
