"""Shared pieces of the security tests: a directory watcher process and secret scanning."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Polls the directories as fast as it can, from its own process (so the writer's GIL cannot
# hide a window), and reports every file it ever saw with a group or other permission bit.
WATCHER = r"""
import json, os, stat, sys
dirs, stop = sys.argv[1:-1], sys.argv[-1]
seen, temps, polls, bad = set(), 0, 0, []
while not os.path.exists(stop):
    polls += 1
    if polls == 2:
        print("ready", flush=True)  # one whole poll done: the writer may start
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if e.name.startswith(".") and not stat.S_ISDIR(st.st_mode):
                temps += 1
            seen.add(e.name)
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                bad.append([os.path.join(d, e.name), oct(stat.S_IMODE(st.st_mode))])
print(json.dumps({"polls": polls, "temp_sightings": temps, "names": len(seen), "bad": bad[:20]}))
"""


@dataclass
class WatchReport:
    polls: int = 0
    temp_sightings: int = 0
    names: int = 0
    bad: list[list[str]] = field(default_factory=list)


@contextmanager
def watch_modes(*directories: Path, stop_dir: Path) -> Iterator[WatchReport]:
    """Run the watcher while the body writes; the report is filled in on exit."""
    stop = stop_dir / "watcher.stop"
    report = WatchReport()
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHER, *map(str, directories), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    # Wait until it polls (a loaded machine can take seconds to start a Python): a write
    # loop that finished before the first poll would prove nothing.
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() == "ready", first
    try:
        yield report
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=30)
        stop.unlink()
        doc = json.loads(out)
        report.polls = doc["polls"]
        report.temp_sightings = doc["temp_sightings"]
        report.names = doc["names"]
        report.bad = doc["bad"]


def leaks(secrets: Iterable[str], **streams: str) -> list[str]:
    """Which secret (by position) appears in which stream; an empty list is the pass."""
    found = []
    for i, secret in enumerate(secrets):
        assert len(secret) >= 16, "a short needle would match by chance"
        for name, text in streams.items():
            if secret in text:
                found.append(f"secret #{i} ({secret[:4]}...) in {name}")
    return found
