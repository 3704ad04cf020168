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


# Tests that take about 1.5 s or more each on 2 cores (`pytest --durations=80`), besides every
# end-to-end test: `pytest -m "not slow"` is the inner loop. A prefix marks every test under it.
SLOW = (
    "tests/functional/deploy/test_deploy_rehearsal.py::",
    "tests/functional/faults/test_concurrency_faults.py::",
    "tests/functional/faults/test_local_faults.py::test_local_fault[lock-holder-stopped]",
    "tests/functional/faults/test_metadata_faults.py::test_metadata_fault[hang-",
    "tests/functional/faults/test_metadata_faults.py::test_metadata_fault[slow-drip-",
    "tests/functional/faults/test_sts_faults.py::test_sts_fault[hang-",
    "tests/functional/faults/test_sts_faults.py::test_sts_fault[throttling-always]",
    "tests/functional/fuzz/test_fuzz_sts.py::",
    "tests/functional/security/test_no_secret_leaks.py::",
    "tests/functional/security/test_file_modes.py::test_cli_writers_never_expose_a_file",
    "tests/functional/cli/test_exec.py::test_exec_server_child_keeps_working_across_rotations",
    "tests/functional/cli/test_init.py::test_hanging_get_caller_identity_respects_the_timeout",
    "tests/functional/cli/test_init.py::test_default_profile_works_without_profile_flag",
    "tests/functional/cli/test_init.py::test_new_user_reaches_get_caller_identity",
    "tests/functional/cli/test_token.py::test_boto3_web_identity_file_across_rotations",
    "tests/functional/cli/test_token.py::test_error_token_command_hangs",
    "tests/functional/cli/test_policy.py::test_aws_cli_lines_run_with_the_real_aws_cli",
    "tests/functional/cli/test_demo.py::test_demo_command",
    "tests/functional/cli/test_emulator_cmd.py::test_emulator_with_sts_serves_credentials",
    "tests/functional/deploy/test_fleet_model.py::test_plot_is_written_deterministically",
    "tests/unit/delivery/test_server.py::test_background_refresh_rotates_without_requests_waiting",
    "tests/unit/delivery/test_server.py::test_exactly_one_sts_call_per_credential_lifetime",
    "tests/unit/test_api.py::test_boto3_session_refreshes_across_a_rotation",
    "tests/unit/awsconfig/test_profile.py::test_property_",
    "tests/unit/policy/test_evaluate.py::test_any_policy_either_evaluates_or_raises_config_error",
    "tests/unit/policy/test_generate.py::test_terraform_round_trips_through_python_hcl2",
    "tests/unit/policy/test_generate.py::test_aws_cli_commands_create_and_update_the_role",
    "tests/unit/policy/test_generate.py::test_yaml_and_hcl_round_trip_any_text",
    "tests/unit/test_sts.py::test_throttling_is_retried_by_botocore_then_transient",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") or item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
