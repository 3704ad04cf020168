"""``credentials``, ``token`` and ``doctor`` each name a Google runtime's first failure and its
fix in one line, against the emulator playing that runtime (``gcp2aws emulator --runtime``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gcp2aws.cli.emulator import RUNTIMES
from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, run_gcp2aws

CAUSES = {
    "gke-unannotated": (
        "GKE cluster demo-cluster: the pod's Kubernetes service account is not bound",
        "iam.gke.io/gcp-service-account",
    ),
    "cloudbuild-default": (
        "Cloud Build's default service account",
        "iam.serviceAccounts.getOpenIdToken",
    ),
}


@pytest.fixture(params=sorted(CAUSES))
def runtime(request: pytest.FixtureRequest, env: Env) -> Iterator[tuple[str, dict[str, str]]]:
    with MetadataEmulator(**RUNTIMES[request.param]) as emu:
        yield request.param, env.with_(GCE_METADATA_HOST=emu.address, GCE_METADATA_IP=emu.address)


def test_credentials_names_cause_and_fix(runtime: tuple[str, dict[str, str]]) -> None:
    name, values = runtime
    proc = run_gcp2aws(["credentials", "--role-arn", ROLE_ARN, "--no-cache"], values)
    assert_clean_failure(proc, 4)
    cause, fix = CAUSES[name]
    assert cause in proc.stderr
    assert fix in proc.stderr


def test_token_names_cause_and_fix(runtime: tuple[str, dict[str, str]]) -> None:
    name, values = runtime
    proc = run_gcp2aws(["token"], values)
    assert_clean_failure(proc, 4)
    assert CAUSES[name][0] in proc.stderr


def test_doctor_names_cause_and_fix(runtime: tuple[str, dict[str, str]]) -> None:
    name, values = runtime
    proc = run_gcp2aws(["doctor", "--role-arn", ROLE_ARN], values)
    assert proc.returncode != 0
    cause, fix = CAUSES[name]
    failing = [line for line in proc.stdout.splitlines() if cause in line]
    assert failing, proc.stdout
    assert failing[0].startswith("FAIL"), proc.stdout
    assert fix in proc.stdout
    assert "Traceback" not in proc.stderr
