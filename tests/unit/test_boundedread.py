"""boundedread.read_regular: regular files only, never blocking, never past the limit."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from gcp2aws.boundedread import UnreadableFileError, read_regular


def test_reads_a_regular_file_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_regular(str(path), 100) == b"x" * 100


def test_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    with pytest.raises(UnreadableFileError, match="larger than 100 bytes"):
        read_regular(str(path), 100)


def test_a_huge_sparse_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    with open(path, "wb") as fh:
        fh.truncate(10 << 30)  # 10 GiB of holes
    with pytest.raises(UnreadableFileError, match="larger than"):
        read_regular(str(path), 1 << 16)


def test_a_fifo_with_no_writer_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    done = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            read_regular(str(path), 100)
        except UnreadableFileError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(10):  # a blocking open() would never return; unblock it and fail
        with open(path, "wb"):
            pass
        pytest.fail("open() blocked on a FIFO")
    assert "a FIFO, not a regular file" in str(errors[0])


def test_dev_zero_is_refused_and_dev_null_reads_empty() -> None:
    started = time.monotonic()
    with pytest.raises(UnreadableFileError, match="character device"):
        read_regular("/dev/zero", 1 << 20)
    assert time.monotonic() - started < 5  # nothing was read
    assert read_regular(os.devnull, 10) == b""


def test_it_is_an_oserror_so_existing_handlers_report_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError) as caught:  # noqa: PT011 - the point is the base class
        read_regular(str(tmp_path / "fifo"), 1)
    assert caught.value.strerror == "it is a FIFO, not a regular file"
    assert caught.value.filename == str(tmp_path / "fifo")


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(str(tmp_path / "nope"), 1)
