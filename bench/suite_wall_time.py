#!/usr/bin/env python3
"""Wall time of the whole `./scripts/test.sh`, serial vs parallel, measured in one run.

  python bench/suite_wall_time.py [--inner-loop]

Runs `scripts/test.sh` twice, back to back on the same machine: first with PYTEST_WORKERS=0
(one pytest process, as the suite ran before pytest-xdist), then with the default (one worker
per core). With --inner-loop it also times `pytest -n auto -m "not slow"`. Both runs must pass.
Results are printed and written to bench/results/suite_wall_time.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "suite_wall_time.json"


def timed(argv: list[str], **extra: str) -> float:
    environ = {**os.environ, **extra}
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{tail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inner-loop", action="store_true", help='also time -m "not slow"')
    args = parser.parse_args()
    serial = timed(["bash", "scripts/test.sh"], PYTEST_WORKERS="0")
    parallel = timed(["bash", "scripts/test.sh"])
    figures: dict[str, float | int | None] = {
        "cores": os.cpu_count(),
        "serial_s": round(serial, 1),
        "parallel_s": round(parallel, 1),
        "ratio": round(parallel / serial, 2),
    }
    if args.inner_loop:
        python = str(REPO / ".venv" / "bin" / "python")
        inner = [python, "-m", "pytest", "-q", "-n", "auto", "--dist", "worksteal"]
        figures["inner_loop_s"] = round(timed([*inner, "-m", "not slow"]), 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
