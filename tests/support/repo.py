"""Where the repository's own files are, for tests that read the docs, manifests or scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
DEPLOY_GCE = REPO / "deploy" / "gce"


def build_wheel(out: Path) -> Path:
    """Build gcp2aws's wheel from this checkout into ``out`` (it is not on the index yet)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("gcp2aws-*.whl")
    return built
