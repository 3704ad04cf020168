#!/usr/bin/env python3
"""Wall time of the whole `./scripts/test.sh`, before and after, measured in one run.

  python bench/suite_wall_time.py [--before DIR] [--serial] [--inner-loop]

Runs `scripts/test.sh` back to back on the same machine and prints the ratios:
  --before DIR  first the suite of another checkout (with its own .venv), for instance the
                tree as it was before the redesign: `git worktree add DIR bd847e4`;
  (always)      this checkout's suite, as CI runs it (one pytest-xdist worker per core);
  --serial      this checkout's suite with PYTEST_WORKERS=0 (one pytest process);
  --inner-loop  `pytest -n auto -m "not slow"`.
Every run must pass. Results are printed and written to bench/results/suite_wall_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "suite_wall_time.json"
PASSED = re.compile(r"(\d+) passed")


def timed(argv: list[str], cwd: Path, **extra: str) -> tuple[float, int]:
    """Wall seconds and the number of tests pytest reported passed (summed over its runs)."""
    environ = {**os.environ, **extra}
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=environ, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise SystemExit(f"{' '.join(argv)} in {cwd} failed ({proc.returncode}):\n{tail}")
    return elapsed, sum(int(n) for n in PASSED.findall(proc.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout whose suite is the baseline")
    parser.add_argument("--serial", action="store_true", help="also time PYTEST_WORKERS=0")
    parser.add_argument("--inner-loop", action="store_true", help='also time -m "not slow"')
    args = parser.parse_args()
    suite = ["bash", "scripts/test.sh"]
    figures: dict[str, object] = {"cores": os.cpu_count()}
    if args.before:
        before, before_tests = timed(suite, args.before.resolve())
        figures["before"] = {"s": round(before, 1), "tests": before_tests}
    parallel, tests = timed(suite, REPO)
    figures["parallel"] = {"s": round(parallel, 1), "tests": tests}
    if args.before:
        figures["parallel_over_before"] = round(parallel / before, 2)
    if args.serial:
        serial, _ = timed(suite, REPO, PYTEST_WORKERS="0")
        figures["serial"] = {"s": round(serial, 1), "tests": tests}
        figures["parallel_over_serial"] = round(parallel / serial, 2)
    if args.inner_loop:
        python = str(REPO / ".venv" / "bin" / "python")
        inner = [python, "-m", "pytest", "-q", "-n", "auto", "--dist", "worksteal"]
        inner += ["-m", "not slow"]
        inner_s, inner_tests = timed(inner, REPO)
        figures["inner_loop"] = {"s": round(inner_s, 1), "tests": inner_tests}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
