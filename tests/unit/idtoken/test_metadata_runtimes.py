"""First-failure diagnoses per Google runtime: the metadata source names the cause and the fix
in one line, telling GKE and Cloud Build apart from the metadata server itself."""

from __future__ import annotations

import pytest

from gcp2aws.cli.emulator import RUNTIMES
from gcp2aws.emulator.faults import Body
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.errors import TokenUnavailableError
from gcp2aws.idtoken.metadata import MetadataSource
from gcp2aws.retry import Deadline

AUDIENCE = "sts.amazonaws.com"


def refusal(emu: MetadataEmulator) -> TokenUnavailableError:
    with pytest.raises(TokenUnavailableError) as info:
        MetadataSource(emu.address).fetch(AUDIENCE, Deadline(5))
    return info.value


def test_gke_with_an_unannotated_service_account() -> None:
    with MetadataEmulator(**RUNTIMES["gke-unannotated"]) as emu:
        error = refusal(emu)
    assert error.message.startswith("GKE cluster demo-cluster: the pod's Kubernetes service")
    assert "iam.gke.io/gcp-service-account" in error.hint
    assert "roles/iam.workloadIdentityUser" in error.hint
    assert "\n" not in error.one_line()


def test_gke_is_recognised_from_the_cluster_attribute_whatever_the_404_says() -> None:
    with MetadataEmulator(
        attributes={"cluster-name": "prod"}, identity_refusal=(404, "something else")
    ) as emu:
        assert refusal(emu).message.startswith("GKE cluster prod:")


def test_gke_is_recognised_from_the_text_when_the_attribute_is_missing() -> None:
    with MetadataEmulator(identity_refusal=RUNTIMES["gke-unannotated"]["identity_refusal"]) as emu:
        assert refusal(emu).message.startswith("GKE: the pod's Kubernetes service account")


def test_a_404_on_compute_engine_is_a_missing_service_account() -> None:
    with MetadataEmulator(identity_refusal=(404, "Not Found")) as emu:
        error = refusal(emu)
    assert "has no service account for this workload" in error.message
    assert "GKE" not in error.message


def test_cloud_builds_default_service_account() -> None:
    with MetadataEmulator(**RUNTIMES["cloudbuild-default"]) as emu:
        error = refusal(emu)
    assert "Cloud Build's default service account" in error.message
    assert "@cloudbuild.gserviceaccount.com" in error.message
    assert "iam.serviceAccounts.getOpenIdToken" in error.hint


def test_an_error_without_metadata_flavor_is_someone_else() -> None:
    with MetadataEmulator() as emu:
        emu.inject(Body(404, b"<html>not here</html>"))  # no Metadata-Flavor header
        error = refusal(emu)
    assert error.message.startswith("something other than the metadata server answered")
    assert "HTTP 404" in error.message
    assert "NO_PROXY" in error.hint
