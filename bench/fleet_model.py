#!/usr/bin/env python3
"""Fleet load model: STS and metadata-server calls of N GKE pods, from gcp2aws's own schedule.

  python bench/fleet_model.py [--seed N] [--no-plot]

A deterministic discrete-event simulation. Each pod's refresh times come from the functions
gcp2aws itself runs (``gcp2aws.schedule.token_refresh_at`` in ``token --watch``,
``gcp2aws.schedule.credentials_refresh_at`` in ``serve``, through ``server.refresh_delay``),
called with a seeded ``random.Random``, so the same seed gives the same figures. Two sidecar
patterns:

token-file  ``gcp2aws token --write --watch`` fetches an ID token from the metadata server and
            refreshes it ahead of exp (lead + jitter). The app's AWS SDK calls STS itself: at
            its first AWS call, then whenever its credentials (DurationSeconds: STS's default
            3600 s, as the SDK sends none) enter botocore's 15-minute advisory window. An app
            that makes AWS calls all the time refreshes right at that point, without jitter.
endpoint    ``gcp2aws serve`` fetches a token and calls STS when it starts and each time its
            credentials enter the refresh window (plus jitter after that point): one metadata
            call and one STS call per refresh.

Cases: steady state for N = 1 ... 100,000 pods (pods started at random over the six hours
before the measured two hours); a rollout restarting 10,000 pods at random within 60 s (the old
pods, in steady state, stop as their replacements start), with jitter on and off. "Jitter on"
is what gcp2aws does; "jitter off" calls the same functions with ``jitter_fraction=0`` to show
what the jitter buys.

Figures go to stdout and bench/results/fleet_model.json; the plot (needs ``gcp2aws[bench]``,
i.e. matplotlib) to docs/fleet-model.png.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gcp2aws.delivery import schedule

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "fleet_model.json"
PLOT = HERE.parent / "docs" / "fleet-model.png"

TOKEN_LIFETIME = 3600.0  # Google ID tokens from the metadata server: exp = iat + 3600
CREDENTIALS_LIFETIME = 3600.0  # STS's default DurationSeconds (the SDK's web-identity path)
BOTOCORE_ADVISORY_WINDOW = 900.0  # botocore refreshes with 15 minutes left
APP_START_DELAY = 1.0  # the sidecar's startup probe runs every second: the app starts after it
# AWS STS default request quota, per account per Region; quota figure as documented at the time
# of writing: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
STS_QUOTA_RPS = 600

PATTERNS = ("token-file", "endpoint")
STEADY_SIZES = (1, 10, 100, 1_000, 10_000, 100_000)
ROLLOUT_PODS = 10_000
ROLLOUT_SECONDS = 60.0
WARMUP = 6 * 3600.0  # steady-state pods started at random over this long before t=0
STEADY_HORIZON = 2 * 3600.0
ROLLOUT_HORIZON = 3 * 3600.0

Refresh = Callable[[float, float, random.Random], float]


@dataclass(frozen=True)
class Schedules:
    """When a pod next fetches a token and next calls STS, given the expiry and the time now."""

    token: Refresh
    credentials: Refresh


def gcp2aws_schedules(jitter: bool) -> Schedules:
    """gcp2aws's schedule functions, with their default lead, window and jitter (or none)."""
    fraction = schedule.JITTER_FRACTION if jitter else 0.0

    def token(exp: float, now: float, rng: random.Random) -> float:
        return schedule.token_refresh_at(exp, now, jitter_fraction=fraction, rng=rng)

    def credentials(exp: float, now: float, rng: random.Random) -> float:
        return schedule.credentials_refresh_at(exp, now, jitter_fraction=fraction, rng=rng)

    return Schedules(token, credentials)


def botocore_refresh(exp: float, now: float, rng: random.Random) -> float:
    """A busy app's SDK refreshes as soon as the advisory window opens (botocore has no jitter)."""
    return max(now, exp - BOTOCORE_ADVISORY_WINDOW)


@dataclass
class Calls:
    """Call times (seconds from t=0) that fall inside the measured window."""

    metadata: list[float]
    sts: list[float]


def simulate_pod(
    pattern: str,
    start: float,
    stop: float,
    *,
    horizon: float,
    schedules: Schedules,
    rng: random.Random,
    out: Calls,
) -> None:
    """Append one pod's calls in ``[0, min(stop, horizon))`` to ``out``."""
    end = min(stop, horizon)

    def keep(times: list[float], t: float) -> None:
        if 0.0 <= t < end:
            times.append(t)

    if pattern == "token-file":
        # The sidecar: fetch a token, then refresh it on gcp2aws's token schedule.
        t = start
        while t < end:
            keep(out.metadata, t)
            t = schedules.token(t + TOKEN_LIFETIME, t, rng)
        # The app's SDK: STS at first use, then on botocore's window.
        t = start + APP_START_DELAY
        while t < end:
            keep(out.sts, t)
            t = botocore_refresh(t + CREDENTIALS_LIFETIME, t, rng)
    elif pattern == "endpoint":
        # serve: each exchange fetches a fresh token, then calls STS; the next one is due on
        # serve's own schedule (server.refresh_delay -> schedule.credentials_refresh_at).
        t = start
        while t < end:
            keep(out.metadata, t)
            keep(out.sts, t)
            t = schedules.credentials(t + CREDENTIALS_LIFETIME, t, rng)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")


def summarize(calls: Calls, pods: int, horizon: float) -> dict[str, Any]:
    per_second = Counter(int(t) for t in calls.sts)
    md_per_second = Counter(int(t) for t in calls.metadata)
    peak = max(per_second.values(), default=0)
    return {
        "pods": pods,
        "window_s": horizon,
        "sts_calls": len(calls.sts),
        "sts_mean_per_s": len(calls.sts) / horizon,
        "sts_peak_per_s": peak,
        "sts_peak_at_s": min((s for s, n in per_second.items() if n == peak), default=None),
        "sts_peak_vs_quota": peak / STS_QUOTA_RPS,
        "metadata_calls_per_pod_per_hour": len(calls.metadata) / pods / (horizon / 3600),
        "metadata_peak_per_s": max(md_per_second.values(), default=0),
    }


def steady_state(pattern: str, pods: int, *, jitter: bool, seed: int) -> dict[str, Any]:
    # Start times have their own generator: jitter on and off then see the same fleet.
    starts = random.Random(f"steady/{pattern}/{pods}/{seed}")
    rng = random.Random(f"jitter/{seed}")
    schedules = gcp2aws_schedules(jitter)
    calls = Calls([], [])
    for _ in range(pods):
        start = -starts.uniform(0.0, WARMUP)
        simulate_pod(
            pattern,
            start,
            math.inf,
            horizon=STEADY_HORIZON,
            schedules=schedules,
            rng=rng,
            out=calls,
        )
    return summarize(calls, pods, STEADY_HORIZON)


def rollout(
    pattern: str, pods: int, *, jitter: bool, seed: int, seconds: float = ROLLOUT_SECONDS
) -> dict[str, Any]:
    """``pods`` pods replaced at random times in [0, seconds); returns figures and the series."""
    starts = random.Random(f"rollout/{pattern}/{pods}/{seed}")
    rng = random.Random(f"jitter/{seed}")
    schedules = gcp2aws_schedules(jitter)
    calls = Calls([], [])
    for _ in range(pods):
        replaced_at = starts.uniform(0.0, seconds)
        old_start = -starts.uniform(0.0, WARMUP)
        simulate_pod(
            pattern,
            old_start,
            replaced_at,
            horizon=ROLLOUT_HORIZON,
            schedules=schedules,
            rng=rng,
            out=calls,
        )
        simulate_pod(
            pattern,
            replaced_at,
            math.inf,
            horizon=ROLLOUT_HORIZON,
            schedules=schedules,
            rng=rng,
            out=calls,
        )
    result = summarize(calls, pods, ROLLOUT_HORIZON)
    result["rollout_seconds"] = seconds
    # Peaks of the later refresh waves: the first wave is the restart itself.
    later = Counter(int(t) for t in calls.sts if t >= 600)
    result["sts_peak_per_s_after_10_min"] = max(later.values(), default=0)
    later_md = Counter(int(t) for t in calls.metadata if t >= 600)
    result["metadata_peak_per_s_after_10_min"] = max(later_md.values(), default=0)
    series = Counter(int(t) for t in calls.sts)
    result["_sts_series"] = [series.get(s, 0) for s in range(int(ROLLOUT_HORIZON))]
    return result


def largest_rollout_under_quota(pattern: str, *, seed: int) -> int:
    """The most pods one 60 s rollout can restart with its peak second under the quota."""
    low, high = 1, 200  # in thousands of pods
    while high - low > 1:
        middle = (low + high) // 2
        peak = first_minute_peak(pattern, middle * 1_000, seed=seed)
        low, high = (middle, high) if peak <= STS_QUOTA_RPS else (low, middle)
    return low * 1_000


def first_minute_peak(pattern: str, pods: int, *, seed: int) -> int:
    # The restart wave alone: new pods' first STS calls (the rest of the fleet adds little).
    rng = random.Random(f"wave/{pattern}/{pods}/{seed}")
    delay = APP_START_DELAY if pattern == "token-file" else 0.0
    per_second = Counter(int(rng.uniform(0.0, ROLLOUT_SECONDS) + delay) for _ in range(pods))
    return max(per_second.values())


def run_model(seed: int, sizes: Sequence[int] = STEADY_SIZES) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "seed": seed,
        "sts_quota_rps": STS_QUOTA_RPS,
        "sts_quota_source": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
        "assumptions": {
            "token_lifetime_s": TOKEN_LIFETIME,
            "credentials_lifetime_s": CREDENTIALS_LIFETIME,
            "token_lead_s": schedule.TOKEN_LEAD,
            "credentials_refresh_window_s": schedule.REFRESH_WINDOW,
            "credentials_window_entry_margin_s": schedule.WINDOW_ENTRY_MARGIN,
            "credentials_jitter_cap_share_of_window": schedule.WINDOW_JITTER_SHARE,
            "jitter_fraction": schedule.JITTER_FRACTION,
            "botocore_advisory_window_s": BOTOCORE_ADVISORY_WINDOW,
            "app_start_delay_s": APP_START_DELAY,
        },
        "steady": {},
        "rollout": {},
        "largest_60s_rollout_under_quota": {},
    }
    for pattern in PATTERNS:
        results["steady"][pattern] = [
            steady_state(pattern, n, jitter=True, seed=seed) for n in sizes
        ]
        results["rollout"][pattern] = {
            "jitter_on": rollout(pattern, ROLLOUT_PODS, jitter=True, seed=seed),
            "jitter_off": rollout(pattern, ROLLOUT_PODS, jitter=False, seed=seed),
        }
        results["largest_60s_rollout_under_quota"][pattern] = largest_rollout_under_quota(
            pattern, seed=seed
        )
    results["model_seconds"] = round(time.perf_counter() - started, 1)
    return results


def public(results: dict[str, Any]) -> dict[str, Any]:
    """The results without the per-second series (those only feed the plot)."""
    out = json.loads(json.dumps(results))
    for cases in out["rollout"].values():
        for case in cases.values():
            case.pop("_sts_series", None)
    return dict(out)


def report(results: dict[str, Any]) -> str:
    lines = [f"AWS STS quota: {STS_QUOTA_RPS} requests/s per account per Region", ""]
    lines.append("steady state (jitter on)")
    lines.append(
        f"  {'pattern':<11} {'pods':>8} {'STS mean/s':>11} {'STS peak/s':>11} {'md/pod/h':>9}"
    )
    for pattern, rows in results["steady"].items():
        for row in rows:
            lines.append(
                f"  {pattern:<11} {row['pods']:>8,} {row['sts_mean_per_s']:>11.2f} "
                f"{row['sts_peak_per_s']:>11} {row['metadata_calls_per_pod_per_hour']:>9.2f}"
            )
    lines.append("")
    lines.append(f"rollout: {ROLLOUT_PODS:,} pods restarted within {ROLLOUT_SECONDS:.0f} s")
    lines.append(
        f"  {'pattern':<11} {'jitter':<6} {'STS mean/s':>11} {'peak/s':>7} "
        f"{'later':>6} {'md/pod/h':>9} {'md peak/s':>9} {'later':>6}"
    )
    for pattern, cases in results["rollout"].items():
        for name, row in cases.items():
            lines.append(
                f"  {pattern:<11} {name.removeprefix('jitter_'):<6} "
                f"{row['sts_mean_per_s']:>11.2f} {row['sts_peak_per_s']:>7} "
                f"{row['sts_peak_per_s_after_10_min']:>6} "
                f"{row['metadata_calls_per_pod_per_hour']:>9.2f} {row['metadata_peak_per_s']:>9} "
                f"{row['metadata_peak_per_s_after_10_min']:>6}"
            )
    lines.append(
        "  (later = the peak second from 10 minutes on: the refresh waves after the restart)"
    )
    lines.append("")
    for pattern, pods in results["largest_60s_rollout_under_quota"].items():
        lines.append(f"largest 60 s rollout under the quota ({pattern}): about {pods:,} pods")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(1.6, 1))
    minutes = [s / 60 for s in range(int(ROLLOUT_HORIZON))]
    styles = {
        ("token-file", "jitter_on"): ("#2ca02c", "token-file (the SDK calls STS; no jitter)"),
        ("endpoint", "jitter_off"): ("#d62728", "endpoint with jitter off (for comparison)"),
        ("endpoint", "jitter_on"): ("#1f77b4", "endpoint: gcp2aws serve (jitter on)"),
    }
    for (pattern, case), (color, label) in styles.items():
        series = results["rollout"][pattern][case]["_sts_series"]
        left.plot(minutes, series, color=color, label=label, linewidth=0.8)
    left.axhline(STS_QUOTA_RPS, color="black", linestyle="--", linewidth=1)
    left.text(2, STS_QUOTA_RPS * 0.93, f"STS quota {STS_QUOTA_RPS}/s", va="top", fontsize=8)
    left.set_title(
        f"Rollout: {ROLLOUT_PODS:,} pods restarted within {ROLLOUT_SECONDS:.0f} s", fontsize=10
    )
    left.set_xlabel("minutes after the rollout starts")
    left.set_ylabel("STS AssumeRoleWithWebIdentity calls per second")
    left.set_ylim(0, STS_QUOTA_RPS * 1.1)
    left.legend(fontsize=8, loc="upper right")

    for pattern, color in (("token-file", "#2ca02c"), ("endpoint", "#1f77b4")):
        rows = results["steady"][pattern]
        pods = [r["pods"] for r in rows]
        right.plot(
            pods,
            [r["sts_peak_per_s"] for r in rows],
            "o-",
            color=color,
            label=f"{pattern}: peak second",
        )
        right.plot(
            pods,
            [max(r["sts_mean_per_s"], 1e-4) for r in rows],
            "s--",
            color=color,
            alpha=0.6,
            label=f"{pattern}: mean",
        )
    right.axhline(STS_QUOTA_RPS, color="black", linestyle="--", linewidth=1)
    right.text(1.2, STS_QUOTA_RPS * 0.75, "STS quota", va="top", fontsize=8)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_title("Steady state, jitter on", fontsize=10)
    right.set_xlabel("pods")
    right.set_ylabel("STS calls per second")
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        "gcp2aws on GKE: STS load from the fleet model (bench/fleet_model.py)", fontsize=11
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp or version in the metadata: the same figures give the same PNG bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None, "Creation Time": None})
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    results = run_model(args.seed)
    print(report(results))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(public(results), indent=2) + "\n")
    print(f"\nwrote {args.results}")
    if not args.no_plot:
        try:
            plot(results, args.plot)
        except ImportError:
            print(
                "matplotlib is missing: pip install 'gcp2aws[bench]' for the plot", file=sys.stderr
            )
            return 1
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
