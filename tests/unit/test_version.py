"""The version is written once, in gcp2aws/_version.py; everything else reads or matches it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gcp2aws import __version__

REPO = Path(__file__).resolve().parents[2]


def test_pyproject_reads_the_version_from_the_package() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/gcp2aws/_version.py"


def test_no_source_module_writes_the_version_again() -> None:
    quoted = (f'"{__version__}"', f"'{__version__}'")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "src" / "gcp2aws").rglob("*.py")
        if path.name != "_version.py" and any(q in path.read_text() for q in quoted)
    ]
    assert offenders == []


def test_example_image_tags_follow_the_version() -> None:
    # Deployment examples tag the image with the release: they must not drift from it.
    tag = re.compile(r"gcp2aws:(\d+\.\d+\.\d+)")
    files = [REPO / "Dockerfile", REPO / "README.md", *(REPO / "deploy").rglob("*.yaml")]
    files += (REPO / "docs").glob("*.md")
    found = {m for path in files for m in tag.findall(path.read_text(encoding="utf-8"))}
    assert found == {__version__}
