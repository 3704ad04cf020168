"""atomicfile.replace: whole content or none, never a wider mode, no temp file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

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

    def spy(src: str, dst: str, **dir_fds: int) -> None:
        seen.append(os.path.basename(src))
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "replace", spy)
    atomicfile.replace(str(tmp_path / "f"), b"x", prefix=".gcp2aws-")
    assert seen[0].startswith(".gcp2aws-")
    assert seen[0].endswith(".tmp")


# -- check_target: what a writer may replace ---------------------------------------------------
def test_check_target_passes_a_missing_path_and_a_regular_file(tmp_path: Path) -> None:
    assert atomicfile.check_target(str(tmp_path / "new")) == str(tmp_path / "new")
    (tmp_path / "f").write_text("x")
    assert atomicfile.check_target(str(tmp_path / "f")) == str(tmp_path / "f")


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


def _socket(tmp_path: Path) -> str:
    import socket

    path = str(tmp_path / "sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.close()
    return path


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda _tmp: os.devnull, "a character device"),
        (_fifo, "a FIFO"),
        (_socket, "a socket"),
        (str, "a directory"),
    ],
    ids=["dev-null", "fifo", "socket", "directory"],
)
def test_check_target_refuses_what_is_not_a_regular_file(
    tmp_path: Path, make: Any, kind: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(atomicfile.UnsafeTargetError, match=f"is {kind}, not a regular file"):
        atomicfile.check_target(path, force=True)  # --force never makes a device writable


def test_check_target_refuses_a_symlink_unless_asked_to_follow(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("x")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(atomicfile.UnsafeTargetError, match=f"symlink to {real}"):
        atomicfile.check_target(str(link), euid=1000)
    assert atomicfile.check_target(str(link), follow_symlink=True, euid=1000) == str(real)


def test_check_target_refuses_a_symlink_to_a_device_even_when_following(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to(os.devnull)
    with pytest.raises(atomicfile.UnsafeTargetError, match="character device"):
        atomicfile.check_target(str(link), follow_symlink=True, euid=1000)


def test_as_root_a_symlink_needs_force_and_the_message_names_the_real_file(
    tmp_path: Path,
) -> None:
    real = tmp_path / "alice-config"
    real.write_text("x")
    link = tmp_path / "config"
    link.symlink_to(real)
    with pytest.raises(atomicfile.UnsafeTargetError) as caught:
        atomicfile.check_target(str(link), follow_symlink=True, euid=0)
    assert str(real) in str(caught.value)
    assert "--force" in caught.value.hint
    assert atomicfile.check_target(str(link), follow_symlink=True, force=True, euid=0) == str(real)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_as_root_another_users_file_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    os.chown(target, 4242, 4242)
    with pytest.raises(atomicfile.UnsafeTargetError, match="belongs to uid 4242"):
        atomicfile.check_target(str(target), euid=0)
    assert atomicfile.check_target(str(target), force=True, euid=0) == str(target)
    assert atomicfile.check_target(str(target), euid=4242) == str(target)  # its owner may
