"""The GKE manifests: schema-valid for Kubernetes 1.29 and 1.37, hardened, and consistent with
the CLI and the environment variables the AWS SDKs read."""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gcp2aws import envvars
from gcp2aws.cli.app import build_parser
from tests.support.deploy import (
    ENDPOINT_PATTERN,
    MANIFESTS,
    SHARED_DIR,
    TOKEN_FILE_PATTERN,
    app,
    containers,
    documents,
    env_values,
    gcp2aws_args,
    is_gcp2aws_image,
    pod_specs,
    sidecar,
    the_pod,
)
from tests.support.repo import REPO

K8S_VERSIONS = ("1.29.0", "1.37.0")
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
DOCS = REPO / "docs" / "gke.md"


def test_the_manifests_exist() -> None:
    assert {TOKEN_FILE_PATTERN, ENDPOINT_PATTERN} <= set(MANIFESTS)
    kinds = {doc["kind"] for path in MANIFESTS for doc in documents(path)}
    assert {"ServiceAccount", "Deployment"} <= kinds


# -- schemas ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_strictly_offline(version: str) -> None:
    proc = subprocess.run(
        [str(VALIDATE), "--strict", "-k", version, *map(str, MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = re.findall(r"passed for resource", proc.stdout + proc.stderr)
    total = sum(len(documents(p)) for p in MANIFESTS)
    assert len(passed) == total, proc.stdout + proc.stderr


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_strict_validation_catches_a_misspelt_field(version: str) -> None:
    # Shows the check above has teeth: --strict rejects unknown properties.
    from kubernetes_validate import utils

    doc = copy.deepcopy(documents(TOKEN_FILE_PATTERN)[0])
    doc["spec"]["template"]["spec"]["initContainers"][0]["restartPolicyy"] = "Always"
    with pytest.raises(utils.ValidationError):
        utils.validate(doc, version, strict=True)


# -- native sidecars ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [TOKEN_FILE_PATTERN, ENDPOINT_PATTERN], ids=lambda p: p.stem)
def test_gcp2aws_runs_as_a_native_sidecar_gated_by_a_startup_probe(path: Path) -> None:
    spec = the_pod(path)
    side = sidecar(spec)
    assert side["restartPolicy"] == "Always"
    assert is_gcp2aws_image(side)
    probe = side["startupProbe"]["exec"]["command"]
    assert probe[:2] == ["test", "-s"]
    assert probe[2].startswith(SHARED_DIR + "/")
    assert probe[2] in gcp2aws_args(side), "the probe waits for the file the sidecar writes"
    assert spec["serviceAccountName"] == "gcp2aws-app"


@pytest.mark.parametrize("path", [TOKEN_FILE_PATTERN, ENDPOINT_PATTERN], ids=lambda p: p.stem)
def test_shared_volume_is_in_memory_and_read_only_for_the_app(path: Path) -> None:
    spec = the_pod(path)
    by_mount = {(c["name"], m["mountPath"]): m for c in containers(spec) for m in c["volumeMounts"]}
    side_mount = by_mount[("gcp2aws", SHARED_DIR)]
    app_mount = by_mount[("app", SHARED_DIR)]
    assert side_mount["name"] == app_mount["name"]
    assert app_mount.get("readOnly") is True
    assert not side_mount.get("readOnly")
    (volume,) = [v for v in spec["volumes"] if v["name"] == side_mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"


def test_service_account_is_bound_to_a_google_service_account() -> None:
    (sa,) = [d for p in MANIFESTS for d in documents(p) if d["kind"] == "ServiceAccount"]
    gsa = sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9-]+\.iam\.gserviceaccount\.com", gsa)
    project = gsa.split("@")[1].split(".")[0]
    member = f"serviceAccount:{project}.svc.id.goog[{sa['metadata']['namespace']}/"
    member += f"{sa['metadata']['name']}]"
    docs = DOCS.read_text()
    binding = re.search(r"gcloud iam service-accounts add-iam-policy-binding[^`]*", docs)
    assert binding, "docs/gke.md lacks the Workload Identity binding command"
    words = shlex.split(binding.group(0).replace("\\\n", " "))
    assert gsa in words
    assert words[words.index("--role") + 1] == "roles/iam.workloadIdentityUser"
    assert words[words.index("--member") + 1] == member


# -- the CLI ------------------------------------------------------------------------------------
def every_gcp2aws_command_line() -> list[tuple[str, list[str]]]:
    found = []
    for path, spec in pod_specs():
        for container in containers(spec):
            if is_gcp2aws_image(container):
                found.append((f"{path.stem}/{container['name']}", gcp2aws_args(container)))
    return found


@pytest.mark.parametrize(("where", "argv"), every_gcp2aws_command_line())
def test_every_command_line_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    ns = build_parser().parse_args(argv)  # raises SystemExit on any error
    assert ns.command in {"token", "serve"}
    assert callable(ns.func)


def test_the_command_lines_are_the_documented_sidecar_lines() -> None:
    token = gcp2aws_args(sidecar(the_pod(TOKEN_FILE_PATTERN)))
    assert token == [
        "token",
        "--write",
        f"{SHARED_DIR}/token",
        "--watch",
        "--mode",
        "0644",
        "--audience",
        "sts.amazonaws.com",
    ]
    ns = build_parser().parse_args(gcp2aws_args(sidecar(the_pod(ENDPOINT_PATTERN))))
    assert ns.host == "127.0.0.1"  # loopback only: the default, and nothing overrides it
    assert not ns.allow_non_loopback
    assert ns.port == 9911
    assert ns.auth_token_file == f"{SHARED_DIR}/auth-token"
    assert ns.role_arn.startswith("arn:aws:iam::")


# -- environment variables ----------------------------------------------------------------------
def test_token_file_app_env_is_what_the_sdks_read() -> None:
    from botocore.credentials import AssumeRoleWithWebIdentityProvider

    spec = the_pod(TOKEN_FILE_PATTERN)
    env = env_values(app(spec))
    sdk_names = getattr(AssumeRoleWithWebIdentityProvider, "_CONFIG_TO_ENV_VAR")  # noqa: B009
    assert sdk_names == {
        "web_identity_token_file": envvars.AWS_WEB_IDENTITY_TOKEN_FILE,
        "role_session_name": envvars.AWS_ROLE_SESSION_NAME,
        "role_arn": envvars.AWS_ROLE_ARN,
    }
    assert set(sdk_names.values()) <= set(env)
    token_path = gcp2aws_args(sidecar(spec))[2]
    assert env[envvars.AWS_WEB_IDENTITY_TOKEN_FILE] == token_path
    assert env[envvars.AWS_ROLE_SESSION_NAME] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", env[envvars.AWS_ROLE_ARN])


def test_endpoint_app_env_is_what_the_sdks_read() -> None:
    from botocore.credentials import ContainerProvider

    spec = the_pod(ENDPOINT_PATTERN)
    env = env_values(app(spec))
    assert ContainerProvider.ENV_VAR_FULL == envvars.AWS_CONTAINER_CREDENTIALS_FULL_URI
    assert (
        ContainerProvider.ENV_VAR_AUTH_TOKEN_FILE == envvars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
    )
    ns = build_parser().parse_args(gcp2aws_args(sidecar(spec)))
    assert env[envvars.AWS_CONTAINER_CREDENTIALS_FULL_URI] == f"http://127.0.0.1:{ns.port}/"
    assert env[envvars.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE] == ns.auth_token_file
    # Web identity variables would make the SDK pick that provider first.
    assert envvars.AWS_WEB_IDENTITY_TOKEN_FILE not in env


def test_sidecar_env_names_are_ones_gcp2aws_reads() -> None:
    known = {v for k, v in vars(envvars).items() if k.isupper() and isinstance(v, str)}
    for path in (TOKEN_FILE_PATTERN, ENDPOINT_PATTERN):
        for name in env_values(sidecar(the_pod(path))):
            assert name in known, f"{path.name}: the sidecar sets {name}, which gcp2aws ignores"


def test_docs_name_the_same_env_vars() -> None:
    docs = DOCS.read_text()
    for path in (TOKEN_FILE_PATTERN, ENDPOINT_PATTERN):
        for name in env_values(app(the_pod(path))):
            if name.startswith("AWS_") and name != "AWS_REGION":
                assert f"`{name}`" in docs, f"docs/gke.md does not mention {name}"


def test_cache_dir_is_inside_a_volume_and_not_its_root() -> None:
    # gcp2aws refuses a world-writable cache directory, and an emptyDir's root is one; the
    # image's GCP2AWS_CACHE_DIR=/var/cache/gcp2aws must sit one level inside the mount.
    side = sidecar(the_pod(ENDPOINT_PATTERN))
    mounts = {m["mountPath"] for m in side["volumeMounts"]}
    assert "/var/cache" in mounts
    assert "/var/cache/gcp2aws" not in mounts


# -- security context ---------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "spec"), list(pod_specs()), ids=lambda x: getattr(x, "stem", ""))
def test_pods_are_hardened(path: Path, spec: dict[str, Any]) -> None:
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not spec.get("hostNetwork")
    assert not spec.get("hostPID")
    assert not spec.get("hostIPC")
    for container in containers(spec):
        sc = container["securityContext"]
        where = f"{path.name}/{container['name']}"
        assert sc["runAsNonRoot"] is True, where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"] == {"drop": ["ALL"]}, where
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert not sc.get("privileged"), where
        assert "runAsUser" not in sc or sc["runAsUser"] != 0, where
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), where
        # A read-only root needs somewhere to write temp files.
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, where


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    assert match, quantity
    return int(match.group(1)) * units[match.group(2)]


@pytest.mark.parametrize(
    ("path", "measured_mb"),
    # Measured RSS (docs/gke.md): token --watch 23 MB, serve 43 MB.
    [(TOKEN_FILE_PATTERN, 23), (ENDPOINT_PATTERN, 43)],
    ids=["token-file", "endpoint"],
)
def test_sidecar_memory_has_headroom_over_measured_rss(path: Path, measured_mb: int) -> None:
    resources = sidecar(the_pod(path))["resources"]
    request = mebibytes(resources["requests"]["memory"])
    limit = mebibytes(resources["limits"]["memory"])
    measured_mib = measured_mb * 1e6 / 2**20
    assert request >= measured_mib * 1.2
    assert limit >= measured_mib * 2
    assert f"{measured_mb} MB" in DOCS.read_text()
