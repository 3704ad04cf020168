"""atomicfile.replace: whole content or none, never a wider mode, no temp file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gcp2aws import atomicfile


def test_replace_writes_content_with_the_asked_mode(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomicfile.replace(str(target), b"hello", mode=0o640)
    assert target.read_bytes() == b"hello"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_replace_swaps_the_inode_so_open_readers_keep_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with open(target, "rb") as reader:
        atomicfile.replace(str(target), b"new")
        assert reader.read() == b"old"
    assert target.read_bytes() == b"new"


def test_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    target = directory / "f"
    target.write_bytes(b"old")

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space"):
        atomicfile.replace(str(target), b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in directory.iterdir()) == ["f"]


def test_prefix_names_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomicfile.replace(str(tmp_path / "f"), b"x", prefix=".gcp2aws-")
    assert seen[0].startswith(".gcp2aws-")
    assert seen[0].endswith(".tmp")
