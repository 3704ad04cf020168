"""Fixtures for the whole suite: an isolated environment, the metadata emulator, a local STS,
and the environment of a gcp2aws process pointed at them.

Every test runs with HOME, XDG dirs and all AWS_* / GOOGLE_* / GCE_* / GCP2AWS_* / CLOUDSDK_*
variables isolated, so nothing on the developer's machine (or a real cloud) leaks in. Helpers
that are not fixtures live in ``tests/support``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support import fuzz_budget  # noqa: F401 - importing it loads the fuzzing profile
from tests.support.cli import ISOLATED_PREFIXES, Env


@pytest.fixture(autouse=True)
def _restore_gcp2aws_logger() -> Iterator[None]:
    """Undo an in-process CLI run's logging set-up (its own handler, propagate off).

    Without this, a test that runs after one of those in the same worker sees nothing in
    ``caplog``: which tests share a process depends on pytest-xdist's scheduling.
    """
    logger = logging.getLogger("gcp2aws")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / ".config" / "gcloud"))
    # Detection must never reach 169.254.169.254 from a test: point it at a closed port.
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    return home


@pytest.fixture
def metadata() -> Iterator[MetadataEmulator]:
    with MetadataEmulator() as emu:
        yield emu


@pytest.fixture(scope="session")
def _local_sts_session() -> Iterator[object]:
    from gcp2aws.emulator.local_sts import LocalSts

    with LocalSts() as sts:
        yield sts


@pytest.fixture(scope="session")
def gcp2aws_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout, for the tests that install gcp2aws as a user would."""
    from tests.support.repo import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def local_sts(_local_sts_session: object) -> object:
    sts = _local_sts_session
    sts.reset_calls()  # type: ignore[attr-defined]
    sts.faults.clear()  # type: ignore[attr-defined]
    return sts


@pytest.fixture
def env(isolated_env: Path, metadata: MetadataEmulator, local_sts: object) -> Env:
    values = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    values.update(
        {
            "HOME": str(isolated_env),
            "AWS_CONFIG_FILE": str(isolated_env / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(isolated_env / ".aws" / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "XDG_CACHE_HOME": str(isolated_env / ".cache"),
            "GCE_METADATA_HOST": metadata.address,
            "GCE_METADATA_IP": metadata.address,
            "AWS_ENDPOINT_URL_STS": local_sts.url,  # type: ignore[attr-defined]
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return Env(values)
