"""The install paths the README documents, on this machine's Debian system Python.

Debian 12's ``/usr/bin/python3`` carries the ``EXTERNALLY-MANAGED`` marker (PEP 668), so a
plain ``pip install`` is refused; Debian's pipx (1.1.0 on Debian 12) and a venv under /opt are
the ways in. gcp2aws is not on the package index yet, so each path installs a wheel built from
this checkout; its dependencies come from the index, as they would for a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, require_executable

pytestmark = [pytest.mark.e2e]

SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PIPX = "/usr/bin/pipx"
REPO = Path(__file__).resolve().parents[3]


def run(argv: list[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=dict(environ), capture_output=True, text=True, timeout=600, check=False
    )


def login(home: Path, **extra: str) -> dict[str, str]:
    """What a user's shell has: PATH, HOME, and nothing of AWS's or Google's."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), **extra}


@pytest.fixture(scope="module")
def wheel(gcp2aws_wheel: Path) -> Path:
    return gcp2aws_wheel


@pytest.fixture(scope="module")
def system_wide(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install``, under a temp root."""
    pipx = require_executable(DEBIAN_PIPX)
    root = tmp_path_factory.mktemp("root")
    environ = login(
        root / "root-home",
        PIPX_HOME=str(root / "opt" / "pipx"),
        PIPX_BIN_DIR=str(root / "usr" / "local" / "bin"),
    )
    proc = run([pipx, "install", str(wheel)], environ)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = root / "usr" / "local" / "bin" / "gcp2aws"
    assert os.access(exe, os.X_OK)
    return exe


def test_plain_pip_install_is_refused_on_the_system_python(wheel: Path) -> None:
    python = require_executable(SYSTEM_PYTHON)
    stdlib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"], {})
    marker = Path(stdlib.stdout.strip(), "EXTERNALLY-MANAGED")
    if not marker.exists():
        pytest.skip(f"{python} is not externally managed ({marker} is absent)")
    proc = run([python, "-m", "pip", "install", "--user", str(wheel)], login(Path("/nonexistent")))
    assert proc.returncode != 0
    assert "externally-managed-environment" in proc.stdout + proc.stderr


def test_debian_pipx_installs_it_for_one_user(wheel: Path, tmp_path: Path) -> None:
    pipx = require_executable(DEBIAN_PIPX)
    version = run([pipx, "--version"], {}).stdout.strip()
    if Path("/etc/debian_version").read_text().startswith("12"):
        assert version.startswith("1.1."), version  # the pipx Debian 12 ships
    environ = login(tmp_path / "alice")
    proc = run([pipx, "install", str(wheel)], environ)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = tmp_path / "alice" / ".local" / "bin" / "gcp2aws"
    out = run([str(exe), "--version"], environ)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("gcp2aws ")


def test_system_wide_pipx_serves_every_user_and_init_writes_a_working_profile(
    system_wide: Path, tmp_path: Path, local_sts: Any
) -> None:
    """Another user runs the shared install: the quickstart, with nothing exported."""
    with MetadataEmulator(zone="asia-northeast1-b") as vm:
        environ = login(
            tmp_path / "bob",
            GCE_METADATA_HOST=vm.address,
            GCE_METADATA_IP=vm.address,
            AWS_ENDPOINT_URL_STS=local_sts.url,
        )
        proc = run([str(system_wide), "init", "--role-arn", ROLE_ARN, "--profile", "gcp"], environ)
    assert proc.returncode == 0, proc.stderr
    assert "verified with STS GetCallerIdentity" in proc.stderr
    config = (tmp_path / "bob" / ".aws" / "config").read_text()
    assert "region = ap-northeast-1\n" in config
    assert f"credential_process = {system_wide} credentials" in config


def test_a_venv_under_opt_with_a_symlink(wheel: Path, tmp_path: Path) -> None:
    python = require_executable(SYSTEM_PYTHON)
    if run([python, "-c", "import ensurepip"], {}).returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("python3-venv is missing: scripts/test.sh installs it on CI")
        pytest.skip("python3-venv is not installed")
    venv = tmp_path / "opt" / "gcp2aws"
    environ = login(tmp_path / "root-home")
    assert run([python, "-m", "venv", str(venv)], environ).returncode == 0
    proc = run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], environ)
    assert proc.returncode == 0, proc.stderr
    link = tmp_path / "usr" / "local" / "bin" / "gcp2aws"
    link.parent.mkdir(parents=True)
    link.symlink_to(venv / "bin" / "gcp2aws")
    out = run([str(link), "--version"], login(tmp_path / "carol"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("gcp2aws ")


def test_uv_tool_install_on_the_system_python(wheel: Path, tmp_path: Path, local_sts: Any) -> None:
    """``uv tool install gcp2aws``: uv makes its own venv, so PEP 668 does not stand in the way."""
    uv = require_executable(str(Path(sys.executable).with_name("uv")))
    python = require_executable(SYSTEM_PYTHON)
    home = tmp_path / "dave"
    environ = login(home, UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_PYTHON_DOWNLOADS="never")
    # pip reads the machine's CA bundle from pip.conf; uv reads only the environment.
    for name in ("SSL_CERT_FILE", "UV_INDEX_URL", "UV_NATIVE_TLS"):
        if name in os.environ:
            environ[name] = os.environ[name]
    proc = run([uv, "tool", "install", "--python", python, str(wheel)], environ)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = home / ".local" / "bin" / "gcp2aws"
    prefix = ["-c", "import sys; print(sys.base_prefix)"]
    venv_python = exe.resolve().parent / "python"
    assert run([str(venv_python), *prefix], {}).stdout == run([python, *prefix], {}).stdout
    with MetadataEmulator(zone="europe-west2-a") as vm:
        environ.update(
            GCE_METADATA_HOST=vm.address,
            GCE_METADATA_IP=vm.address,
            AWS_ENDPOINT_URL_STS=local_sts.url,
        )
        proc = run([str(exe), "init", "--role-arn", ROLE_ARN, "--profile", "gcp"], environ)
    assert proc.returncode == 0, proc.stderr
    assert "region = eu-west-2\n" in (home / ".aws" / "config").read_text()
